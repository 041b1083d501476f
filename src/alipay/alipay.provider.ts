import type { KeyObject } from 'node:crypto';
import { encodeForm } from './alipay.form';
import { commonParams, payBizContent, PRODUCTS, type AppIdentity, type PayProduct, type TradeRequest } from './alipay.pay';
import { signParams, verifyCallback, type CallbackRule, type Params } from './alipay.signer';

export interface AlipayProviderOptions extends AppIdentity {
  /** The gateway.do URL: Alipay's production or sandbox, or the local Alipay. */
  gatewayUrl: string;
  appPrivateKey: KeyObject;
  alipayPublicKey: KeyObject;
}

/** A signed pay request: a URL to open (PAGE, WAP) or the order string for Alipay's App SDK (APP). */
export interface SignedPayRequest {
  url: string | null;
  orderString: string | null;
}

/**
 * Alipay as this service uses it, with no knowledge of orders or storage: builds signed pay requests and
 * verifies callbacks. Keys are KeyObjects parsed once; signing and verifying run on libuv's thread pool.
 */
export class AlipayProvider {
  constructor(private readonly options: AlipayProviderOptions) {}

  get appId(): string {
    return this.options.appId;
  }

  get gatewayUrl(): string {
    return this.options.gatewayUrl;
  }

  /** Builds and signs a pay request for a product: page.pay and wap.pay as GET URLs, app.pay as an order string. */
  async payRequest(
    product: PayProduct,
    trade: TradeRequest,
    urls: { notifyUrl: string; returnUrl?: string },
    at: Date = new Date(),
  ): Promise<SignedPayRequest> {
    const params = commonParams(this.options, PRODUCTS[product].method, payBizContent(product, trade), at, {
      notifyUrl: urls.notifyUrl,
      returnUrl: product === 'APP' ? undefined : urls.returnUrl,
    });
    const sign = await signParams(params, this.options.appPrivateKey, this.options.signType);
    const encoded = encodeForm({ ...params, sign });
    if (product === 'APP') return { url: null, orderString: encoded };
    const separator = this.options.gatewayUrl.includes('?') ? '&' : '?';
    return { url: `${this.options.gatewayUrl}${separator}${encoded}`, orderString: null };
  }

  /** Verifies an async notify or a sync return with Alipay's public key; null when it does not verify. */
  verifyCallback(params: Params): Promise<CallbackRule | null> {
    return verifyCallback(params, this.options.alipayPublicKey, this.options.signType);
  }
}
