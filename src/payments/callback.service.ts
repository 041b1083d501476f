import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { FormError, parseForm } from '../alipay/alipay.form';
import type { AlipayProvider } from '../alipay/alipay.provider';
import { parseBeijingTime } from '../alipay/alipay.time';
import { rateLimitedWarning, type Logger } from '../common/logger';
import type { Metrics } from '../common/metrics';
import { Money } from '../common/money';
import { CONTROL_CHARACTERS } from '../common/text';
import { inTransaction, isDatabaseUnavailable, prepared, sqlState, type SqlExecutor } from '../db/sql';
import { lockOrder, readOrder, type OrderRecord } from '../orders/order.row';
import { PAID_STATUSES, statusFromAlipay, transition, type TransitionCause } from '../orders/order.state';
import { EventSource, OrderStatus } from '../orders/order.types';
import { CallbackKind, CallbackVerdict } from './callback-log.entity';
import type { FoundPayment, PaymentExceptionService, RecordedException } from './payment-exception.service';
import type { RefundService } from './refund.service';

/** The most a notify body may be; larger ones are refused unread. */
export const NOTIFY_BODY_LIMIT = 64 * 1024;

export interface NotifyReply {
  status: number;
  body: 'success' | 'failure';
  verdict: CallbackVerdict;
}

export interface ReturnOutcome {
  verified: boolean;
  order: Pick<OrderRecord, 'id' | 'orderNo' | 'status' | 'amount' | 'subject'> | null;
  reason: string | null;
}

interface LogDraft {
  kind: CallbackKind;
  raw: Buffer;
  remoteAddress: string | null;
  receivedAt: Date;
  signatureValid: boolean;
  notifyId: string | null;
  outTradeNo: string | null;
  tradeStatus: string | null;
}

/** A verdict decided inside the notify transaction. */
interface Decision {
  verdict: CallbackVerdict;
  reason: string | null;
  /** The order the callback is linked to (only once its signature verified). */
  orderId: string | null;
  /** A refund we had marked failed went through after all: an operator must look. */
  alert?: boolean;
  /** A payment exception this notify recorded for the first time (announced after commit). */
  exception?: RecordedException;
}

/**
 * The notify fields that reach SQL (as parameters, or in the callback record). A signed message may still carry
 * hostile text: control characters (PostgreSQL refuses NUL outright) are refused before any database work.
 */
const SQL_FIELDS = ['notify_id', 'out_trade_no', 'trade_no', 'trade_status', 'buyer_id', 'buyer_open_id', 'out_biz_no', 'gmt_payment', 'total_amount', 'refund_fee'];

function hostileField(params: Record<string, string>): string | null {
  for (const name of SQL_FIELDS) {
    const value = params[name];
    if (value !== undefined && (CONTROL_CHARACTERS.test(value) || !value.isWellFormed())) return name;
  }
  return null;
}

/**
 * Text from a callback as it may be stored: control characters (a NUL would make PostgreSQL refuse the whole
 * record) shown as U+FFFD, and clipped to the column.
 */
const clip = (value: string | undefined, max: number): string | null =>
  value === undefined ? null : value.slice(0, max).replace(/[\u0000-\u001f\u007f]/g, '\ufffd');

/** Whether a notify with this notify_id was already processed for the order (callback_logs_notify_id_idx). */
const SEEN_NOTIFY_SQL = `
  select 1 from callback_logs where notify_id = $1 and order_id = $2 and signature_valid
  and verdict in ('APPLIED', 'DUPLICATE', 'IGNORED', 'REFUSED') limit 1`;

/** What is kept of a callback whose signature did not verify: anyone can send those. */
export const UNVERIFIED_RAW_LIMIT = 4096;

/**
 * One row per callback. A verified browser return that is already recorded for its order (the result page reloads
 * itself while it waits) is not recorded again, so reloads add no history.
 */
const INSERT_LOG_SQL = `
  insert into callback_logs (kind, raw, verdict, reason, signature_valid, order_id, notify_id, out_trade_no, trade_status, remote_address, received_at, raw_length, raw_sha256)
  select $1::text, $2::bytea, $3::text, $4::text, $5::boolean, $6::uuid, $7::text, $8::text, $9::text, $10::text, $11::timestamptz, $12::int, $13::text
  where not ($1::text = 'RETURN' and $5::boolean and exists (
    select 1 from callback_logs where order_id = $6::uuid and kind = 'RETURN' and signature_valid and raw_sha256 = $13::text))`;

function insertLog(db: SqlExecutor, draft: LogDraft, decision: Decision): Promise<unknown> {
  return db.query(INSERT_LOG_SQL, [
    draft.kind,
    draft.signatureValid ? draft.raw : draft.raw.subarray(0, UNVERIFIED_RAW_LIMIT),
    decision.verdict,
    clip(decision.reason ?? undefined, 1000),
    draft.signatureValid,
    decision.orderId,
    draft.notifyId,
    draft.outTradeNo,
    draft.tradeStatus,
    draft.remoteAddress,
    draft.receivedAt,
    draft.raw.length,
    createHash('sha256').update(draft.raw).digest('hex'),
  ]);
}

/**
 * Alipay's callbacks: the async notify (which moves orders) and the browser return (which never does).
 * Order of work for a notify: decode once → verify the signature → check app_id, seller_id, out_trade_no and the
 * exact total_amount → in one short transaction, lock the order row, apply the transition and record the callback
 * → \`success\` only after commit. Every callback is recorded, also when rejected or when the transaction fails
 * (then in a transaction of its own). The notify path is plain SQL: it is the hottest path of the service.
 */
export class CallbackService {
  private readonly unavailableWarning: (fields?: Record<string, unknown>) => void;
  private readonly rejectedWarning: (fields?: Record<string, unknown>) => void;

  constructor(
    private readonly pool: Pool,
    private readonly alipay: AlipayProvider,
    private readonly refunds: RefundService,
    private readonly exceptions: PaymentExceptionService,
    private readonly options: { sellerId: string | null },
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.unavailableWarning = rateLimitedWarning(logger, 'database unavailable: notifies answered failure, Alipay will resend');
    // Anyone can post to the notify route: its refusals are logged at most once a second, with a count.
    this.rejectedWarning = rateLimitedWarning(logger, 'notify rejected');
  }

  /** Records a notify that was refused before its body was read (too large, wrong content type). */
  async refuseUnread(raw: Buffer, reason: string, remoteAddress: string | null): Promise<NotifyReply> {
    const draft = this.draft(CallbackKind.NOTIFY, raw, remoteAddress);
    await this.recordAlone(draft, { verdict: CallbackVerdict.REJECTED, reason, orderId: null });
    return { status: 200, body: 'failure', verdict: CallbackVerdict.REJECTED };
  }

  async notify(raw: Buffer, remoteAddress: string | null): Promise<NotifyReply> {
    const draft = this.draft(CallbackKind.NOTIFY, raw, remoteAddress);
    const reject = async (reason: string): Promise<NotifyReply> => {
      this.rejectedWarning({ verdict: CallbackVerdict.REJECTED, reason, outTradeNo: draft.outTradeNo, signatureValid: draft.signatureValid });
      await this.recordAlone(draft, { verdict: CallbackVerdict.REJECTED, reason, orderId: null });
      return { status: 200, body: 'failure', verdict: CallbackVerdict.REJECTED };
    };

    let params: Record<string, string>;
    try {
      params = parseForm(raw);
    } catch (err) {
      if (err instanceof FormError) return reject(`malformed form body: ${err.message}`);
      throw err;
    }
    draft.notifyId = clip(params.notify_id, 128);
    draft.outTradeNo = clip(params.out_trade_no, 128);
    draft.tradeStatus = clip(params.trade_status, 64);

    if (!(await this.alipay.verifyCallback(params))) {
      return reject('signature does not verify with the Alipay public key');
    }
    draft.signatureValid = true;
    const hostile = hostileField(params);
    if (hostile) return reject(`${hostile} carries control characters or invalid text`);
    if (params.app_id !== this.alipay.appId) return reject("app_id is not this service's app");
    if (this.options.sellerId && params.seller_id !== this.options.sellerId) return reject('seller_id is not the configured seller');
    const orderNo = params.out_trade_no;
    if (!orderNo || orderNo.length > 64) return reject('out_trade_no is missing or too long');
    const total = Money.parseDecimal(params.total_amount ?? '');
    if (!total) return reject('total_amount is missing or not a decimal');
    if (params.trade_no !== undefined && params.trade_no.length > 64) return reject('trade_no is too long');

    let decision: Decision;
    try {
      decision = await inTransaction(this.pool, async (tx) => {
        const order = await lockOrder(tx, { orderNo });
        const decided = await this.decide(tx, params, order, total);
        await insertLog(tx, draft, decided);
        return decided;
      });
    } catch (err) {
      // A value PostgreSQL refuses (a data exception, SQLSTATE class 22) fails the same way on every resend.
      if (sqlState(err)?.startsWith('22')) {
        this.logger.error('notify refused by the database as invalid data; not acted on', { orderNo, error: err });
        return reject(`a value was refused by the database (${sqlState(err)})`);
      }
      const unavailable = isDatabaseUnavailable(err);
      if (unavailable) this.unavailableWarning({ orderNo, error: err });
      else this.logger.error('notify processing failed; Alipay will resend', { orderNo, error: err });
      await this.recordAlone(draft, { verdict: CallbackVerdict.ERROR, reason: 'processing failed; see the service log', orderId: null }, unavailable);
      return { status: unavailable ? 503 : 500, body: 'failure', verdict: CallbackVerdict.ERROR };
    }
    this.count(draft.kind, decision.verdict);
    this.logger.info('notify verdict', {
      orderNo,
      verdict: decision.verdict,
      tradeStatus: draft.tradeStatus,
      tradeNo: params.trade_no,
      totalAmount: total.toString(),
      ...(params.refund_fee !== undefined ? { refundFee: params.refund_fee } : {}),
      ...(decision.reason ? { reason: decision.reason } : {}),
    });
    if (decision.exception) {
      this.exceptions.announce(decision.exception);
    } else if (decision.alert) {
      this.metrics.inc('alipay_payment_alerts_total', 'Refunds marked failed that Alipay made after all');
      this.logger.error('REFUND NEEDS ATTENTION: a refund marked failed went through at Alipay', { orderNo, reason: decision.reason });
    } else if (decision.verdict === CallbackVerdict.REFUSED) {
      this.logger.warn('notify refused by the order state machine', { orderNo, reason: decision.reason });
    }
    return { status: 200, body: decision.verdict === CallbackVerdict.REJECTED ? 'failure' : 'success', verdict: decision.verdict };
  }

  /** The part of a notify that runs under the order's row lock. */
  private async decide(tx: SqlExecutor, params: Record<string, string>, order: OrderRecord | null, total: Money): Promise<Decision> {
    if (!order) return { verdict: CallbackVerdict.REJECTED, reason: 'out_trade_no is not an order of ours', orderId: null };
    const orderId = order.id;
    if (!order.amount.equals(total)) {
      return { verdict: CallbackVerdict.REJECTED, reason: `total_amount ${params.total_amount} differs from the order amount ${order.amount.toString()}`, orderId };
    }
    if (params.notify_id && (await tx.query(SEEN_NOTIFY_SQL, [params.notify_id, orderId])).rows.length > 0) {
      return { verdict: CallbackVerdict.DUPLICATE, reason: 'notify_id already processed', orderId };
    }
    const tradeStatus = params.trade_status;
    if (tradeStatus === 'WAIT_BUYER_PAY') return { verdict: CallbackVerdict.IGNORED, reason: 'WAIT_BUYER_PAY changes nothing', orderId };
    const target = statusFromAlipay(tradeStatus);
    if (!target) return { verdict: CallbackVerdict.REJECTED, reason: 'trade_status is missing or unknown', orderId };

    const cause: TransitionCause = {
      source: EventSource.NOTIFY,
      note: `notify ${params.notify_id ?? ''}`.trim(),
      tradeNo: params.trade_no,
      buyerId: clip(params.buyer_id ?? params.buyer_open_id, 64) ?? undefined,
      paidAt: parseBeijingTime(params.gmt_payment ?? '') ?? undefined,
    };
    // A trade this order did not take: paid after the order closed here, or a second trade for a paid order.
    const tradeNo = params.trade_no;
    const foreign =
      tradeNo !== undefined && (order.tradeNo ? order.tradeNo !== tradeNo : order.status === OrderStatus.TRADE_CLOSED && (PAID_STATUSES.has(target) || params.refund_fee !== undefined));
    let refunded: Money | null = null;
    if (params.refund_fee !== undefined) {
      refunded = Money.parseDecimal(params.refund_fee);
      if (!refunded || refunded.compare(order.amount) > 0) {
        return { verdict: CallbackVerdict.REJECTED, reason: 'refund_fee is not a decimal within the order amount', orderId };
      }
    }
    if (foreign && tradeNo !== undefined) {
      if (refunded) {
        const confirmed = await this.exceptions.confirmRefunded(tx, orderId, tradeNo, refunded);
        return confirmed
          ? { verdict: CallbackVerdict.APPLIED, reason: `refund of trade ${tradeNo}, which this order did not take`, orderId }
          : { verdict: CallbackVerdict.DUPLICATE, reason: `refund of trade ${tradeNo} already recorded`, orderId };
      }
      if (!PAID_STATUSES.has(target)) return { verdict: CallbackVerdict.IGNORED, reason: `${target} for trade ${tradeNo}, which this order did not take`, orderId };
    } else if (refunded) {
      if (order.status !== OrderStatus.WAIT_BUYER_PAY) return this.refundNotify(tx, params, order, refunded, target, cause);
      cause.refundedAmount = refunded;
    }
    const result = await transition(tx, order, target, cause);
    if (result.outcome === 'APPLIED') return { verdict: CallbackVerdict.APPLIED, reason: null, orderId };
    if (result.outcome === 'REPEATED') return { verdict: CallbackVerdict.DUPLICATE, reason: `already ${order.status}`, orderId };
    if (result.outcome === 'REFUSED') return { verdict: CallbackVerdict.REFUSED, reason: result.reason, orderId };
    // EXCEPTION: the money moved at Alipay; record it once, answer success so Alipay stops resending.
    const payment: FoundPayment = { tradeNo: tradeNo as string, amount: total, kind: result.kind, reason: result.reason, source: EventSource.NOTIFY };
    const recorded = await this.exceptions.record(tx, order, payment);
    return { verdict: CallbackVerdict.REFUSED, reason: `payment exception: ${result.reason}`, orderId, ...(recorded ? { exception: recorded } : {}) };
  }

  /**
   * A refund notify (partial: TRADE_SUCCESS or TRADE_FINISHED; full: TRADE_CLOSED) carries the cumulative
   * refund_fee and the refund's out_request_no (out_biz_no), in any order and any number of times.
   */
  private async refundNotify(
    db: SqlExecutor,
    params: Record<string, string>,
    order: OrderRecord,
    refunded: Money,
    target: OrderStatus,
    cause: TransitionCause,
  ): Promise<Decision> {
    const orderId = order.id;
    const revived = await this.refunds.confirmFromNotify(db, orderId, params.out_biz_no);
    const recorded = await this.refunds.applyRefunded(db, order, refunded, EventSource.NOTIFY, `refund notify ${params.out_biz_no ?? ''}`.trim(), params.out_biz_no);
    let changed = recorded !== 'UNCHANGED';
    if (target === OrderStatus.TRADE_FINISHED && recorded !== 'CLOSED' && order.status === OrderStatus.TRADE_SUCCESS) {
      changed = (await transition(db, order, target, cause)).outcome === 'APPLIED' || changed;
    }
    if (revived) {
      return { verdict: CallbackVerdict.APPLIED, reason: `refund ${params.out_biz_no} had been marked failed, but Alipay made it`, orderId, alert: true };
    }
    return { verdict: changed ? CallbackVerdict.APPLIED : CallbackVerdict.DUPLICATE, reason: changed ? null : 'refund already recorded', orderId };
  }

  /**
   * The browser's return from Alipay: verified, then answered from our own records. It never changes an order:
   * only the async notify (or a query to Alipay) does.
   */
  /** `query` is the raw query string as it arrived (still percent-encoded). */
  async returned(query: string, remoteAddress: string | null): Promise<ReturnOutcome> {
    const raw = Buffer.from(query, 'latin1');
    const draft = this.draft(CallbackKind.RETURN, raw, remoteAddress);
    const refuse = async (reason: string): Promise<ReturnOutcome> => {
      await this.recordAlone(draft, { verdict: CallbackVerdict.REJECTED, reason, orderId: null });
      return { verified: false, order: null, reason };
    };
    let params: Record<string, string>;
    try {
      params = parseForm(raw);
    } catch (err) {
      if (err instanceof FormError) return refuse(`malformed query string: ${err.message}`);
      throw err;
    }
    draft.outTradeNo = clip(params.out_trade_no, 128);
    if (!(await this.alipay.verifyCallback(params))) return refuse('signature does not verify with the Alipay public key');
    draft.signatureValid = true;
    if (params.app_id !== this.alipay.appId) return refuse("app_id is not this service's app");
    const orderNo = params.out_trade_no;
    const order = orderNo && orderNo.length <= 64 && !hostileField(params) ? await readOrder(prepared(this.pool), { orderNo }) : null;
    if (!order) return refuse('out_trade_no is not an order of ours');
    await this.recordAlone(draft, { verdict: CallbackVerdict.IGNORED, reason: 'browser return; state comes from the notify', orderId: order.id });
    return { verified: true, order, reason: null };
  }

  private draft(kind: CallbackKind, raw: Buffer, remoteAddress: string | null): LogDraft {
    return {
      kind,
      raw,
      remoteAddress: clip(remoteAddress ?? undefined, 64),
      receivedAt: new Date(),
      signatureValid: false,
      notifyId: null,
      outTradeNo: null,
      tradeStatus: null,
    };
  }

  /** Writes a callback record in a transaction of its own; a failure here is logged, never thrown. */
  private async recordAlone(draft: LogDraft, decision: Decision, databaseDown = false): Promise<void> {
    this.count(draft.kind, decision.verdict);
    if (databaseDown) return; // it would fail the same way; the log line above stands for it
    try {
      await insertLog(prepared(this.pool), draft, decision);
    } catch (err) {
      if (isDatabaseUnavailable(err)) this.logger.warn('could not record a callback: database unavailable', { kind: draft.kind, verdict: decision.verdict, error: err });
      else this.logger.error('could not record a callback', { kind: draft.kind, verdict: decision.verdict, error: err });
    }
  }

  /**
   * Job: deletes the records of callbacks whose signature did not verify once they are older than the retention
   * (CALLBACK_LOG_RETENTION); verified ones are the payment's evidence and stay. A batch at a time.
   */
  async purgeUnverified(retentionMs: number, batch = 10_000): Promise<number> {
    const { rows } = await prepared(this.pool).query<{ n: string }>(
      `with gone as (delete from callback_logs where id in (
         select id from callback_logs where not signature_valid and received_at < $1 order by received_at limit $2) returning 1)
       select count(*)::text as n from gone`,
      [new Date(Date.now() - retentionMs), batch],
    );
    return Number(rows[0].n);
  }

  private count(kind: CallbackKind, verdict: CallbackVerdict): void {
    this.metrics.inc('alipay_callbacks_total', 'Alipay callbacks received, by kind and verdict', { kind, verdict });
  }
}
