import type { KeyObject } from 'node:crypto';
import { encodeForm } from './alipay.form';
import { commonParams, type AppIdentity } from './alipay.pay';
import { ResponseFormatError, splitResponse } from './alipay.response';
import { signParams, verifyText } from './alipay.signer';

/** Alipay answered with a business or argument error (code other than 10000/20000). */
export class AlipayError extends Error {
  override name = 'AlipayError';
  constructor(
    readonly code: string,
    readonly msg: string,
    readonly subCode: string | null,
    readonly subMsg: string | null,
    /** Whether the error response carried a signature that verified (unsigned errors are still errors). */
    readonly verified: boolean,
  ) {
    super(`Alipay ${code} ${msg}${subCode ? ` (${subCode}${subMsg ? `: ${subMsg}` : ''})` : ''}`);
  }
}

/** Alipay could not be reached or was busy (20000) after the retries: the outcome is unknown or nothing happened. */
export class AlipayUnavailableError extends Error {
  override name = 'AlipayUnavailableError';
}

/** Alipay's answer cannot be trusted: a bad or missing signature on a success, a foreign certificate, bad JSON. */
export class AlipayResponseError extends Error {
  override name = 'AlipayResponseError';
}

export interface AlipayClientOptions {
  gatewayUrl: string;
  app: AppIdentity;
  appPrivateKey: KeyObject;
  alipayPublicKey: KeyObject;
  /** Certificate mode: the SN every response must carry as alipay_cert_sn. */
  alipayCertSn?: string | null;
  /** Per attempt, connection to last byte (default 10 s). */
  timeoutMs?: number;
  /** Extra attempts for 20000 answers and, on idempotent calls, for transport failures (default 2). */
  retries?: number;
  /** First backoff delay; doubles each retry, with jitter (default 200 ms). */
  backoffMs?: number;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

type Attempt =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; retry: boolean; error: Error };

/**
 * Calls Alipay's gateway (alipay.trade.query, .close, .refund, .precreate, .fastpay.refund.query, …) and returns
 * the `_response` object only after verifying its signature against the raw response text. A signed error
 * response is trusted as an AlipayError; an unsigned success is refused.
 */
export class AlipayClient {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;

  constructor(private readonly options: AlipayClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 2;
    this.backoffMs = options.backoffMs ?? 200;
  }

  async exec(
    method: string,
    bizContent: Record<string, unknown>,
    options: { idempotent: boolean; notifyUrl?: string },
  ): Promise<Record<string, unknown>> {
    let last: Error = new AlipayUnavailableError('no attempt made');
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2));
      const result = await this.attempt(method, bizContent, options);
      if (result.ok) return result.body;
      last = result.error;
      if (!result.retry || (!options.idempotent && !(last instanceof BusyError))) break;
    }
    if (last instanceof BusyError) throw new AlipayUnavailableError(`Alipay is busy (20000) for ${method}`);
    throw last;
  }

  private async attempt(method: string, bizContent: Record<string, unknown>, options: { notifyUrl?: string }): Promise<Attempt> {
    const params = commonParams(this.options.app, method, JSON.stringify(bizContent), new Date(), { notifyUrl: options.notifyUrl });
    const sign = await signParams(params, this.options.appPrivateKey, this.options.app.signType);
    const url = `${this.options.gatewayUrl}${this.options.gatewayUrl.includes('?') ? '&' : '?'}charset=utf-8`;
    let raw: string;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', accept: 'application/json' },
        body: encodeForm({ ...params, sign }),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      raw = await readLimited(response, MAX_RESPONSE_BYTES);
      if (response.status >= 500) {
        return { ok: false, retry: true, error: new AlipayUnavailableError(`Alipay answered HTTP ${response.status} for ${method}`) };
      }
      if (response.status !== 200) {
        return { ok: false, retry: false, error: new AlipayResponseError(`Alipay answered HTTP ${response.status} for ${method}`) };
      }
    } catch (err) {
      if (err instanceof AlipayUnavailableError) return { ok: false, retry: true, error: err };
      const reason = (err as Error).name === 'TimeoutError' ? 'timed out' : 'could not be reached';
      return { ok: false, retry: true, error: new AlipayUnavailableError(`Alipay ${reason} for ${method}`) };
    }
    return this.read(method, raw);
  }

  private async read(method: string, raw: string): Promise<Attempt> {
    let split;
    try {
      split = splitResponse(raw, method);
    } catch (err) {
      const message = err instanceof ResponseFormatError ? err.message : 'unreadable';
      return { ok: false, retry: false, error: new AlipayResponseError(`Alipay response to ${method}: ${message}`) };
    }
    const body = split.body;
    const code = typeof body.code === 'string' ? body.code : '';
    let verified = false;
    if (split.sign) {
      const expectedSn = this.options.alipayCertSn;
      if (expectedSn && split.alipayCertSn !== expectedSn) {
        const which = split.alipayCertSn ? `certificate ${split.alipayCertSn}` : 'no alipay_cert_sn';
        return {
          ok: false,
          retry: false,
          error: new AlipayResponseError(`Alipay signed ${method} with ${which}, not the configured ${expectedSn}`),
        };
      }
      verified = await verifyText(split.content, split.sign, this.options.alipayPublicKey, this.options.app.signType);
      if (!verified) {
        return { ok: false, retry: false, error: new AlipayResponseError(`Alipay response to ${method} has a signature that does not verify`) };
      }
    }
    if (code === '10000') {
      if (!verified) return { ok: false, retry: false, error: new AlipayResponseError(`Alipay response to ${method} is an unsigned success`) };
      return { ok: true, body };
    }
    if (code === '20000') return { ok: false, retry: true, error: new BusyError() };
    const text = (v: unknown) => (typeof v === 'string' ? v : null);
    return {
      ok: false,
      retry: false,
      error: new AlipayError(code || 'unknown', text(body.msg) ?? '', text(body.sub_code), text(body.sub_msg), verified),
    };
  }
}

class BusyError extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readLimited(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > limit) throw new AlipayUnavailableError('Alipay response too large');
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new AlipayUnavailableError('Alipay response too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
