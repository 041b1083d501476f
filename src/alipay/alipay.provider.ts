import { AlipayClient, AlipayError, AlipayResponseError, type AlipayClientOptions } from './alipay.client';
import { encodeForm } from './alipay.form';
import { commonParams, payBizContent, PRODUCTS, type AppIdentity, type PayProduct, type TradeRequest } from './alipay.pay';
import { signParams, verifyCallback, type CallbackRule, type Params } from './alipay.signer';
import { downloadStatement, type DownloadOptions } from './alipay.statement';
import { beijingDayRange, beijingTime } from './alipay.time';

/** The app's identity plus what the gateway client needs (gateway URL, keys, certificate SN, timeouts). */
export interface AlipayProviderOptions extends AppIdentity, Omit<AlipayClientOptions, 'app'> {}

/** A signed pay request: a URL to open and an auto-submitting form (PAGE, WAP), or the App SDK's order string. */
export interface SignedPayRequest {
  url: string | null;
  formHtml: string | null;
  orderString: string | null;
}

/** What alipay.trade.query tells about a trade. */
export interface TradeStatusAnswer {
  tradeNo: string;
  outTradeNo: string;
  tradeStatus: string;
  totalAmount: string;
  buyerId: string | null;
  paidAt: string | null;
}

/** What alipay.trade.refund and alipay.trade.fastpay.refund.query tell. */
export interface RefundAnswer {
  /** Cumulative refunded amount of the trade (refund), or this refund's amount (refund query). */
  refundFee: string | null;
  /** Whether money moved in this call (refund), or the refund is known and done (refund query). */
  done: boolean;
}

/**
 * What alipay.data.dataservice.bill.downloadurl.query tells: a link to the day's statement zip (valid for about
 * 30 seconds), or that there is no bill for that day (a verified business error such as `isp.bill_not_exist`:
 * nothing to reconcile, not a failure).
 */
export type BillDownloadAnswer = { url: string } | { none: true; subCode: string; subMsg: string | null };

/** Sub-codes that mean "there is no bill for that day". */
const NO_BILL = /bill[_.-]?not[_.-]?exist/i;

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** An HTML form that posts the parameters to the gateway and submits itself. */
export function autoSubmitForm(action: string, params: Record<string, string | undefined>): string {
  const inputs = Object.entries(params)
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
  return (
    `<form id="alipay_submit" name="alipay_submit" action="${escapeHtml(action)}" method="post">${inputs}` +
    `<input type="submit" value="Pay with Alipay" style="display:none"></form>` +
    `<script>document.forms['alipay_submit'].submit();</script>`
  );
}

/**
 * Alipay as this service uses it, with no knowledge of orders or storage: builds signed pay requests, verifies
 * callbacks, and calls the gateway through a client that verifies every answer. Keys are KeyObjects parsed once;
 * signing and verifying run on libuv's thread pool.
 */
export class AlipayProvider {
  readonly client: AlipayClient;

  constructor(private readonly options: AlipayProviderOptions) {
    this.client = new AlipayClient({ ...options, app: options });
  }

  get appId(): string {
    return this.options.appId;
  }

  get gatewayUrl(): string {
    return this.options.gatewayUrl;
  }

  /** Builds and signs a pay request: page.pay and wap.pay as a GET URL and a POST form, app.pay as an order string. */
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
    const signed = { ...params, sign: await signParams(params, this.options.appPrivateKey, this.options.signType) };
    if (product === 'APP') return { url: null, formHtml: null, orderString: encodeForm(signed) };
    const separator = this.options.gatewayUrl.includes('?') ? '&' : '?';
    return {
      url: `${this.options.gatewayUrl}${separator}${encodeForm(signed)}`,
      formHtml: autoSubmitForm(`${this.options.gatewayUrl}${separator}charset=utf-8`, signed),
      orderString: null,
    };
  }

  /** Verifies an async notify or a sync return with Alipay's public key; null when it does not verify. */
  verifyCallback(params: Params): Promise<CallbackRule | null> {
    return verifyCallback(params, this.options.alipayPublicKey, this.options.signType);
  }

  /** alipay.trade.precreate: a QR code the buyer scans to pay. */
  async precreate(trade: TradeRequest, notifyUrl: string): Promise<{ qrCode: string }> {
    const biz: Record<string, unknown> = {
      out_trade_no: trade.outTradeNo,
      total_amount: trade.totalAmount,
      subject: trade.subject,
      ...(trade.body ? { body: trade.body } : {}),
      ...(trade.expiresAt ? { time_expire: beijingTime(trade.expiresAt) } : {}),
    };
    const answer = await this.client.exec('alipay.trade.precreate', biz, { idempotent: true, notifyUrl });
    return { qrCode: String(answer.qr_code ?? '') };
  }

  /** alipay.trade.query by out_trade_no, or by trade_no when given (a statement names the trade it means). */
  async query(outTradeNo: string, tradeNo?: string): Promise<TradeStatusAnswer> {
    const a = await this.client.exec('alipay.trade.query', tradeNo ? { out_trade_no: outTradeNo, trade_no: tradeNo } : { out_trade_no: outTradeNo }, { idempotent: true });
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
    return {
      tradeNo: String(a.trade_no ?? ''),
      outTradeNo: String(a.out_trade_no ?? ''),
      tradeStatus: String(a.trade_status ?? ''),
      totalAmount: String(a.total_amount ?? ''),
      buyerId: text(a.buyer_user_id) ?? text(a.buyer_open_id),
      paidAt: text(a.send_pay_date),
    };
  }

  /** alipay.trade.close by out_trade_no. */
  async close(outTradeNo: string): Promise<void> {
    await this.client.exec('alipay.trade.close', { out_trade_no: outTradeNo }, { idempotent: true });
  }

  /** alipay.trade.refund; the same out_request_no makes a retry safe. */
  async refund(input: { outTradeNo: string; tradeNo?: string; amount: string; outRequestNo: string; reason?: string | null }): Promise<RefundAnswer> {
    const a = await this.client.exec(
      'alipay.trade.refund',
      {
        // trade_no names one trade exactly (Alipay prefers it when both are given): the one to refund.
        ...(input.tradeNo ? { trade_no: input.tradeNo } : { out_trade_no: input.outTradeNo }),
        refund_amount: input.amount,
        out_request_no: input.outRequestNo,
        ...(input.reason ? { refund_reason: input.reason } : {}),
      },
      { idempotent: true },
    );
    return { refundFee: typeof a.refund_fee === 'string' ? a.refund_fee : null, done: a.fund_change === 'Y' };
  }

  /** alipay.trade.fastpay.refund.query: whether a refund request went through. */
  async refundQuery(outTradeNo: string, outRequestNo: string, tradeNo?: string): Promise<RefundAnswer> {
    const a = await this.client.exec(
      'alipay.trade.fastpay.refund.query',
      { ...(tradeNo ? { trade_no: tradeNo } : { out_trade_no: outTradeNo }), out_request_no: outRequestNo },
      { idempotent: true },
    );
    const amount = typeof a.refund_amount === 'string' ? a.refund_amount : null;
    const status = typeof a.refund_status === 'string' ? a.refund_status : null;
    return { refundFee: amount, done: amount !== null && (status === null || status === 'REFUND_SUCCESS') };
  }

  /**
   * alipay.data.dataservice.bill.downloadurl.query for the day's trade bill (bill_type `trade`, `YYYY-MM-DD`, a
   * Beijing day). Real Alipay has a day's bill from about 09:00 the next day; before that, and for a day without
   * business, it answers no bill. Only a verified answer counts as "no bill"; an unsigned one is thrown as the
   * AlipayError it is. Transport failures and busy answers are retried (idempotent) and then thrown.
   */
  async billDownloadUrl(billDate: string): Promise<BillDownloadAnswer> {
    if (!beijingDayRange(billDate)) throw new RangeError(`billDate must be a day as YYYY-MM-DD, not ${JSON.stringify(billDate)}`);
    let a: Record<string, unknown>;
    try {
      a = await this.client.exec('alipay.data.dataservice.bill.downloadurl.query', { bill_type: 'trade', bill_date: billDate }, { idempotent: true });
    } catch (err) {
      if (err instanceof AlipayError && err.verified && err.subCode && NO_BILL.test(err.subCode)) return { none: true, subCode: err.subCode, subMsg: err.subMsg };
      throw err;
    }
    const url = a.bill_download_url;
    if (typeof url !== 'string' || !/^https?:\/\/[^\s]+$/i.test(url)) {
      throw new AlipayResponseError('Alipay answered alipay.data.dataservice.bill.downloadurl.query without an http(s) bill_download_url');
    }
    return { url };
  }

  /** Fetches the statement zip a billDownloadUrl answer names: http(s) only, size-limited, with a time-out. */
  downloadStatement(url: string, options?: DownloadOptions): Promise<Buffer> {
    return downloadStatement(url, options);
  }
}
