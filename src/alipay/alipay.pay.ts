import type { SignType } from './alipay.signer';
import { beijingTime } from './alipay.time';

/** The pay products a buyer can pay through, by the channel our clients name. */
export type PayProduct = 'PAGE' | 'WAP' | 'APP';

export const PRODUCTS: Record<PayProduct, { method: string; productCode: string }> = {
  PAGE: { method: 'alipay.trade.page.pay', productCode: 'FAST_INSTANT_TRADE_PAY' },
  WAP: { method: 'alipay.trade.wap.pay', productCode: 'QUICK_WAP_WAY' },
  APP: { method: 'alipay.trade.app.pay', productCode: 'QUICK_MSECURITY_PAY' },
};

/** What the merchant sells: Alipay's business fields for a trade. */
export interface TradeRequest {
  outTradeNo: string;
  /** Yuan with two places, e.g. "88.88". */
  totalAmount: string;
  subject: string;
  body?: string | null;
  /** Alipay stops accepting payment at this instant (`time_expire`, Beijing time). */
  expiresAt?: Date;
  /** WAP only: where a buyer who gives up is sent. */
  quitUrl?: string;
}

/** The app-level settings every request carries. */
export interface AppIdentity {
  appId: string;
  signType: SignType;
  /** Certificate mode: the app certificate's SN and the Alipay root bundle's SN. */
  appCertSn?: string;
  alipayRootCertSn?: string;
}

/** The common request parameters (unsigned) for a method, in Alipay's names. */
export function commonParams(
  app: AppIdentity,
  method: string,
  bizContent: string,
  at: Date,
  extra: { notifyUrl?: string; returnUrl?: string } = {},
): Record<string, string | undefined> {
  return {
    app_id: app.appId,
    method,
    format: 'JSON',
    charset: 'utf-8',
    sign_type: app.signType,
    timestamp: beijingTime(at),
    version: '1.0',
    notify_url: extra.notifyUrl,
    return_url: extra.returnUrl,
    app_cert_sn: app.appCertSn,
    alipay_root_cert_sn: app.alipayRootCertSn,
    biz_content: bizContent,
  };
}

/** biz_content for a pay product: the JSON text that is both signed and sent. */
export function payBizContent(product: PayProduct, trade: TradeRequest): string {
  const biz: Record<string, string> = {
    out_trade_no: trade.outTradeNo,
    total_amount: trade.totalAmount,
    subject: trade.subject,
    product_code: PRODUCTS[product].productCode,
  };
  if (trade.body) biz.body = trade.body;
  if (trade.expiresAt) biz.time_expire = beijingTime(trade.expiresAt);
  if (product === 'WAP' && trade.quitUrl) biz.quit_url = trade.quitUrl;
  return JSON.stringify(biz);
}
