import { AlipayError, AlipayResponseError, AlipayUnavailableError } from '../alipay/alipay.client';
import { alipayUnavailable, type AppError } from '../common/errors';

/** Turns a failed gateway call into the error clients see: ALIPAY_UNAVAILABLE, with Alipay's codes when known. */
export function alipayFailure(err: unknown, what: string): AppError {
  if (err instanceof AlipayError) {
    return alipayUnavailable(`Alipay refused to ${what}: ${err.subMsg ?? err.msg}`, { alipayCode: err.code, alipaySubCode: err.subCode });
  }
  if (err instanceof AlipayUnavailableError || err instanceof AlipayResponseError) {
    return alipayUnavailable(`Could not ${what} at Alipay: ${err.message}`);
  }
  throw err;
}

/**
 * Alipay answers that settle a refund as refused for good. Anything else (system errors, unsigned answers, a
 * query that fails after the refund was accepted) leaves it pending: marking it failed would free its amount for
 * a second refund of money that may already have moved.
 */
export const FINAL_REFUND_REFUSALS: ReadonlySet<string> = new Set([
  'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL',
  'ACQ.TRADE_HAS_CLOSE',
  'ACQ.TRADE_HAS_FINISHED',
  'ACQ.TRADE_NOT_EXIST',
  'ACQ.TRADE_STATUS_ERROR',
  'ACQ.DISCORDANT_REPEAT_REQUEST',
]);

/** Whether an error from alipay.trade.refund is a verified, final refusal (as opposed to an unknown outcome). */
export function isFinalRefundRefusal(err: unknown): err is AlipayError {
  return err instanceof AlipayError && err.verified && err.subCode !== null && err.subCode !== undefined && FINAL_REFUND_REFUSALS.has(err.subCode);
}
