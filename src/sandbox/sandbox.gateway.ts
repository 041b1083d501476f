import type { KeyObject } from 'node:crypto';
import { parsePublicKey } from '../alipay/alipay.keys';
import { canonicalString, REQUEST_OMIT, SIGN_TYPES, signText, verifyText, type SignType } from '../alipay/alipay.signer';
import { parseBeijingTime } from '../alipay/alipay.time';
import type { SandboxApp } from './sandbox.entities';
import type { SandboxStatements } from './sandbox.statements';
import { busy, GatewayError, invalidArgument, missingArgument, type SandboxTrades } from './sandbox.trades';

/** The local Alipay's certificate-mode material: its root and its own public key certificate, with their SNs. */
export interface SandboxCertificates {
  rootPem: string;
  rootSn: string;
  alipayCertPem: string;
  alipayCertSn: string;
}

/** What gateway.do answers: signed JSON for API methods; a cashier redirect or an error page for pay methods. */
export type GatewayAnswer =
  | { kind: 'json'; body: string }
  | { kind: 'cashier'; location: string }
  | { kind: 'error-page'; error: GatewayError };

/** Methods a browser (or the Alipay app) brings to the gateway: they open the cashier. */
export const PAY_METHODS: ReadonlySet<string> = new Set(['alipay.trade.page.pay', 'alipay.trade.wap.pay', 'alipay.trade.app.pay']);

const API_METHODS = new Set([
  'alipay.trade.precreate',
  'alipay.trade.query',
  'alipay.trade.close',
  'alipay.trade.refund',
  'alipay.trade.fastpay.refund.query',
  'alipay.data.dataservice.bill.downloadurl.query',
]);

/**
 * gateway.do of the local Alipay: checks a request the way Alipay does (app, sign_type, certificate SNs,
 * timestamp, signature over the canonical string with the app's public key), then opens the cashier or runs the
 * API method. Answers are signed with the local Alipay's own key over the exact `_response` text.
 */
export class SandboxGateway {
  private readonly keys = new Map<string, { pem: string; key: KeyObject }>();

  constructor(
    private readonly trades: SandboxTrades,
    private readonly alipayKey: KeyObject,
    private readonly baseUrl: string,
    private readonly certs: SandboxCertificates | null,
    private readonly statements: SandboxStatements | null = null,
  ) {}

  private publicKeyOf(app: SandboxApp): KeyObject {
    const cached = this.keys.get(app.appId);
    if (cached && cached.pem === app.publicKeyPem) return cached.key;
    const key = parsePublicKey(app.publicKeyPem);
    this.keys.set(app.appId, { pem: app.publicKeyPem, key });
    return key;
  }

  async handle(params: Record<string, string>): Promise<GatewayAnswer> {
    const method = params.method;
    const page = method !== undefined && PAY_METHODS.has(method);
    let app: SandboxApp | null = null;
    try {
      app = await this.findApp(params);
      await this.verify(app, params);
      const biz = parseBiz(params.biz_content);
      if (page) {
        const trade = await this.trades.open(app, method, biz, { notifyUrl: params.notify_url, returnUrl: params.return_url });
        return { kind: 'cashier', location: `${this.baseUrl}/cashier/${trade.cashierToken}` };
      }
      if (!API_METHODS.has(method)) throw invalidArgument('isv.invalid-method', '不存在的方法名');
      const outTradeNo = typeof biz.out_trade_no === 'string' ? biz.out_trade_no : undefined;
      if (await this.trades.consumeBusy(app.appId, outTradeNo)) throw busy();
      const answer = await this.run(app, method, biz, params.notify_url);
      return { kind: 'json', body: await this.respond(method, { code: '10000', msg: 'Success', ...answer }, app) };
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      if (page) return { kind: 'error-page', error: err };
      const body = { code: err.code, msg: err.msg, ...(err.subCode ? { sub_code: err.subCode } : {}), ...(err.subMsg ? { sub_msg: err.subMsg } : {}) };
      const known = method !== undefined && (API_METHODS.has(method) || PAY_METHODS.has(method));
      return { kind: 'json', body: await this.respond(app && known ? method : null, body, app) };
    }
  }

  /** The calling app; until it is known, errors are unsigned `error_response`s. */
  private async findApp(params: Record<string, string>): Promise<SandboxApp> {
    if (!params.method) throw missingArgument('isv.missing-method', '缺少方法名参数');
    if (!params.app_id) throw missingArgument('isv.missing-app-id', '缺少AppID参数');
    const app = await this.trades.app(params.app_id);
    if (!app) throw invalidArgument('isv.invalid-app-id', '无效的AppID参数');
    return app;
  }

  /** Everything else Alipay checks before it looks at biz_content. */
  private async verify(app: SandboxApp, params: Record<string, string>): Promise<void> {
    if (!params.sign_type) throw missingArgument('isv.missing-signature-type', '缺少签名类型参数');
    if (!(SIGN_TYPES as readonly string[]).includes(params.sign_type) || params.sign_type !== app.signType) {
      throw invalidArgument('isv.invalid-signature-type', '无效的签名类型参数');
    }
    if (!params.sign) throw missingArgument('isv.missing-signature', '缺少签名参数');
    if (!params.timestamp) throw missingArgument('isv.missing-timestamp', '缺少时间戳参数');
    if (!parseBeijingTime(params.timestamp)) throw invalidArgument('isv.invalid-timestamp', '非法的时间戳参数');
    if (app.appCertSn) {
      if (params.app_cert_sn !== app.appCertSn) throw invalidArgument('isv.invalid-app-cert-sn', '应用公钥证书序列号不匹配');
      if (!this.certs || params.alipay_root_cert_sn !== this.certs.rootSn) {
        throw invalidArgument('isv.invalid-alipay-root-cert-sn', '支付宝根证书序列号不匹配');
      }
    }
    const stringToSign = canonicalString(params, REQUEST_OMIT);
    if (!(await verifyText(stringToSign, params.sign, this.publicKeyOf(app), app.signType as SignType))) {
      // As Alipay does, show the string the gateway verified, so the merchant can compare it with theirs.
      throw invalidArgument(
        'isv.invalid-signature',
        // The exact string the gateway verified (pages escape it once, as they escape everything).
        `验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：${stringToSign}`,
      );
    }
  }

  private run(app: SandboxApp, method: string, biz: Record<string, unknown>, notifyUrl: string | undefined): Promise<Record<string, string>> {
    switch (method) {
      case 'alipay.trade.precreate':
        return this.trades.precreate(app, biz, notifyUrl);
      case 'alipay.trade.query':
        return this.trades.query(app, biz);
      case 'alipay.trade.close':
        return this.trades.close(app, biz);
      case 'alipay.trade.refund':
        return this.trades.refund(app, biz);
      case 'alipay.data.dataservice.bill.downloadurl.query':
        if (!this.statements) throw invalidArgument('isv.invalid-method', '不存在的方法名');
        return this.statements.downloadUrl(app, biz);
      default:
        return this.trades.refundQuery(app, biz);
    }
  }

  /**
   * The response text: `{"<method>_response":{…},"sign":"…"}`, signed over the exact JSON text of the member
   * (and alipay_cert_sn in certificate mode). Without a known app there is nothing to sign for: an unsigned
   * `error_response`, as Alipay sends.
   */
  private async respond(method: string | null, body: Record<string, string>, app: SandboxApp | null): Promise<string> {
    const content = JSON.stringify(body);
    if (!method || !app) return `{"error_response":${content}}`;
    const member = JSON.stringify(`${method.replace(/\./g, '_')}_response`);
    const sign = await signText(content, this.alipayKey, app.signType as SignType);
    const certSn = app.appCertSn && this.certs ? `,"alipay_cert_sn":"${this.certs.alipayCertSn}"` : '';
    return `{${member}:${content},"sign":"${sign}"${certSn}}`;
  }
}

function parseBiz(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidArgument('isv.invalid-parameter', 'biz_content 不是合法的 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgument('isv.invalid-parameter', 'biz_content 不是 JSON 对象');
  }
  return value as Record<string, unknown>;
}
