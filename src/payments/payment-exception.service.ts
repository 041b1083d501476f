import { createHash, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { AlipayProvider } from '../alipay/alipay.provider';
import type { ServiceContext } from '../common/context';
import { AppError, badInput, notFound } from '../common/errors';
import type { Logger } from '../common/logger';
import type { Metrics } from '../common/metrics';
import { Money } from '../common/money';
import { inTransaction, prepared, type SqlExecutor } from '../db/sql';
import type { OrderRecord } from '../orders/order.row';
import { connection, decodeCursor, pageSize } from '../common/page';
import { SqlFilter } from '../common/filter';
import { UUID } from '../common/text';
import { recordRefusal, type PaymentExceptionKind } from '../orders/order.state';
import { OrderStatus, type EventSource } from '../orders/order.types';
import { alipayFailure, isFinalRefundRefusal } from './alipay-failure';
import { PaymentExceptionStatus } from './payment-exception.entity';

/** A payment exception as the service works with it: a plain copy of its row. */
export interface PaymentExceptionRecord {
  readonly id: string;
  readonly orderId: string;
  readonly orderNo: string;
  readonly tradeNo: string;
  readonly amount: Money;
  readonly kind: PaymentExceptionKind;
  readonly reason: string;
  readonly source: EventSource;
  readonly status: PaymentExceptionStatus;
  readonly outRequestNo: string;
  readonly failureReason: string | null;
  readonly resolvedBy: string | null;
  readonly resolvedAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

interface Row {
  id: string;
  order_id: string;
  order_no: string;
  trade_no: string;
  amount: string;
  kind: string;
  reason: string;
  source: string;
  status: string;
  out_request_no: string;
  failure_reason: string | null;
  resolved_by: string | null;
  resolved_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `e.id, e.order_id, o.order_no, e.trade_no, e.amount::text as amount, e.kind, e.reason, e.source, e.status, e.out_request_no,
  e.failure_reason, e.resolved_by, e.resolved_at, e.created_at, e.updated_at`;
const FROM = 'payment_exceptions e join orders o on o.id = e.order_id';

function toRecord(row: Row): PaymentExceptionRecord {
  return {
    id: row.id,
    orderId: row.order_id,
    orderNo: row.order_no,
    tradeNo: row.trade_no,
    amount: Money.parseDecimal(row.amount) ?? Money.zero(),
    kind: row.kind as PaymentExceptionKind,
    reason: row.reason,
    source: row.source as EventSource,
    status: row.status as PaymentExceptionStatus,
    outRequestNo: row.out_request_no,
    failureReason: row.failure_reason,
    resolvedBy: row.resolved_by,
    resolvedAt: row.resolved_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The out_request_no of an unwanted payment's refund: derived from the order and the trade, the same everywhere. */
export function exceptionRefundNo(orderNo: string, tradeNo: string): string {
  return `PE${createHash('sha256').update(`${orderNo}:${tradeNo}`).digest('hex').slice(0, 40)}`;
}

export interface FoundPayment {
  tradeNo: string;
  amount: Money;
  kind: PaymentExceptionKind;
  reason: string;
  source: EventSource;
}

/** A payment exception just recorded, to announce once its transaction has committed. */
export interface RecordedException {
  id: string;
  orderNo: string;
  payment: FoundPayment;
}

export interface PaymentExceptionFilterInput {
  status?: PaymentExceptionStatus | null;
  orderNo?: string | null;
}


/**
 * Verified payments that their order could not take: paid after the order closed here, or paid a second time
 * under another trade_no. Each is recorded once (per order and trade_no) in the transaction that found it, shown
 * to admins, counted and logged once. With AUTO_REFUND_UNWANTED_PAYMENTS it is refunded in full through
 * alipay.trade.refund by its trade_no with an out_request_no derived from the trade, so retries, replays, the
 * jobs and several instances ask Alipay for the same one refund; otherwise it waits for an admin's decision.
 */
export class PaymentExceptionService {
  private readonly db: SqlExecutor;

  constructor(
    private readonly pool: Pool,
    private readonly alipay: AlipayProvider,
    private readonly options: { autoRefund: boolean },
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.db = prepared(pool);
  }

  /**
   * Records the exception under the order's row lock, in the caller's transaction. Returns it when it is new (the
   * caller then calls `announce` after commit), null when it was already known (a replay: nothing to do).
   */
  async record(tx: SqlExecutor, order: OrderRecord, found: FoundPayment): Promise<RecordedException | null> {
    const { rows } = await tx.query<{ id: string }>(
      `insert into payment_exceptions (id, order_id, trade_no, amount, kind, reason, source, status, out_request_no, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now())
       on conflict (order_id, trade_no) do nothing returning id`,
      [
        randomUUID(),
        order.id,
        found.tradeNo,
        found.amount.toString(),
        found.kind,
        found.reason,
        found.source,
        this.options.autoRefund ? PaymentExceptionStatus.REFUND_PENDING : PaymentExceptionStatus.OPEN,
        exceptionRefundNo(order.orderNo, found.tradeNo),
      ],
    );
    if (!rows[0]) return null;
    tx.emit({
      type: 'payment.exception',
      paymentExceptionId: rows[0].id,
      orderId: order.id,
      orderNo: order.orderNo,
      tradeNo: found.tradeNo,
      amount: found.amount.toString(),
      kind: found.kind,
      status: this.options.autoRefund ? PaymentExceptionStatus.REFUND_PENDING : PaymentExceptionStatus.OPEN,
    });
    await recordRefusal(tx, order, OrderStatus.TRADE_SUCCESS, { source: found.source, note: `trade ${found.tradeNo}` }, `payment exception: ${found.reason}`);
    return { id: rows[0].id, orderNo: order.orderNo, payment: found };
  }

  /** After the commit that recorded a new exception: count it, log it once, and refund it when so configured. */
  announce({ id, orderNo, payment: found }: RecordedException): void {
    this.metrics.inc('alipay_payment_exceptions_total', 'Verified payments an order could not take (paid after close, paid twice)', { kind: found.kind });
    this.logger.error('PAYMENT EXCEPTION: a verified payment this order cannot take', {
      paymentExceptionId: id,
      orderNo,
      tradeNo: found.tradeNo,
      amount: found.amount.toString(),
      kind: found.kind,
      action: this.options.autoRefund ? 'refunding it in full (AUTO_REFUND_UNWANTED_PAYMENTS)' : 'an admin decides: resolvePaymentException(REFUND | KEEP)',
    });
    if (this.options.autoRefund) {
      this.refund(id, false).catch((err) => this.logger.warn('refund of a payment exception failed; the jobs retry it', { paymentExceptionId: id, error: err }));
    }
  }

  /**
   * Asks Alipay for the full refund of the exception's trade (again, with the same out_request_no) and records
   * the outcome. Only REFUND_PENDING exceptions are refunded; anything else is returned as it is.
   */
  async refund(id: string, strict: boolean): Promise<PaymentExceptionRecord> {
    const exception = await this.byId(id);
    if (!exception || exception.status !== PaymentExceptionStatus.REFUND_PENDING) {
      if (!exception) throw notFound('Payment exception');
      return exception;
    }
    let done = false;
    try {
      const answer = await this.alipay.refund({
        outTradeNo: exception.orderNo,
        tradeNo: exception.tradeNo,
        amount: exception.amount.toString(),
        outRequestNo: exception.outRequestNo,
        reason: exception.kind === 'PAID_TWICE' ? 'Duplicate payment refunded' : 'Payment after the order was closed, refunded',
      });
      done = answer.done;
      if (!done) {
        done = await this.alipay.refundQuery(exception.orderNo, exception.outRequestNo, exception.tradeNo).then(
          (a) => a.done,
          () => false,
        );
      }
    } catch (err) {
      if (isFinalRefundRefusal(err)) {
        const failed = await this.settle(id, PaymentExceptionStatus.REFUND_FAILED, `${err.subCode}: ${err.subMsg ?? err.msg}`);
        this.logger.error('PAYMENT EXCEPTION: Alipay refused its refund; an admin must decide', { paymentExceptionId: id, reason: failed.failureReason });
        return failed;
      }
      if (!strict) throw err;
      const failure = alipayFailure(err, 'refund the payment');
      throw new AppError('ALIPAY_UNAVAILABLE', `${failure.message}. The refund stays pending and is retried by the jobs with the same out_request_no.`, {
        ...failure.details,
        paymentExceptionId: id,
      });
    }
    if (!done) return exception;
    const refunded = await this.settle(id, PaymentExceptionStatus.REFUNDED, null);
    this.logger.info('payment exception refunded', { paymentExceptionId: id, orderNo: exception.orderNo, tradeNo: exception.tradeNo });
    return refunded;
  }

  private async settle(id: string, status: PaymentExceptionStatus, failureReason: string | null): Promise<PaymentExceptionRecord> {
    await this.db.query(
      `update payment_exceptions set status = $2, failure_reason = $3, updated_at = now() where id = $1 and status = 'REFUND_PENDING'`,
      [id, status, failureReason],
    );
    return (await this.byId(id))!;
  }

  /**
   * Alipay's refund notify for a trade the order never took: the exception's refund went through (or someone
   * refunded it by hand at Alipay). Returns whether an exception was marked refunded now.
   */
  async confirmRefunded(tx: SqlExecutor, orderId: string, tradeNo: string, refunded: Money): Promise<boolean> {
    const { rows } = await tx.query(
      `update payment_exceptions set status = 'REFUNDED', failure_reason = null, updated_at = now()
       where order_id = $1 and trade_no = $2 and amount <= $3 and status in ('OPEN', 'REFUND_PENDING', 'REFUND_FAILED') returning id`,
      [orderId, tradeNo, refunded.toString()],
    );
    return rows.length > 0;
  }

  /** Job: retries the refunds of exceptions still pending (Alipay was unreachable), a few at a time. */
  async retryPending(limit = 20, olderThanMs = 60_000): Promise<number> {
    const { rows } = await this.db.query<{ id: string }>(
      `update payment_exceptions set updated_at = now() where id in (
         select id from payment_exceptions where status = 'REFUND_PENDING' and updated_at <= $1 order by updated_at limit $2 for update skip locked)
       returning id`,
      [new Date(Date.now() - olderThanMs), limit],
    );
    for (const { id } of rows) {
      await this.refund(id, false).catch((err) => this.logger.warn('refund of a payment exception failed; will retry', { paymentExceptionId: id, error: err }));
    }
    return rows.length;
  }

  /** An admin's decision on an OPEN (or REFUND_FAILED) exception: refund it in full now, or keep the money. */
  async resolve(ctx: ServiceContext, id: string, action: 'REFUND' | 'KEEP'): Promise<PaymentExceptionRecord> {
    if (!UUID.test(id)) throw notFound('Payment exception');
    const next = action === 'REFUND' ? PaymentExceptionStatus.REFUND_PENDING : PaymentExceptionStatus.KEPT;
    const changed = await inTransaction(this.pool, async (tx) => {
      const { rows } = await tx.query<{ status: string }>('select status from payment_exceptions where id = $1 for update', [id]);
      if (!rows[0]) throw notFound('Payment exception');
      const status = rows[0].status as PaymentExceptionStatus;
      if (status === next) return false; // a repeat of the same decision
      if (status !== PaymentExceptionStatus.OPEN && status !== PaymentExceptionStatus.REFUND_FAILED) {
        throw new AppError('PAYMENT_EXCEPTION_RESOLVED', `This payment exception is ${status}; it can no longer be changed`, { status });
      }
      await tx.query(
        `update payment_exceptions set status = $2, resolved_by = $3, resolved_at = now(), updated_at = now() where id = $1`,
        [id, next, ctx.user.id],
      );
      return true;
    });
    if (changed) this.logger.info('payment exception resolved', { paymentExceptionId: id, action, by: ctx.user.id });
    return next === PaymentExceptionStatus.REFUND_PENDING ? this.refund(id, true) : (await this.byId(id))!;
  }

  async byId(id: string): Promise<PaymentExceptionRecord | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await this.db.query<Row>(`select ${COLUMNS} from ${FROM} where e.id = $1`, [id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** Newest first, `first` (1–100, default 20) at a time after an opaque cursor, optionally by status and order number. */
  async list(filter: PaymentExceptionFilterInput, firstArg: number | null | undefined, after: string | null | undefined) {
    const first = pageSize(firstArg);
    if (filter.orderNo && filter.orderNo.length > 64) throw badInput('orderNo is at most 64 characters', 'orderNo');
    const page = new SqlFilter()
      .add('e.status = $?', filter.status || null)
      .add('o.order_no = $?', filter.orderNo || null) // an empty orderNo is no filter
      .page(`select ${COLUMNS} from ${FROM}`, { time: 'e.created_at', id: 'e.id' }, after ? decodeCursor(after) : null, first);
    const { rows } = await this.db.query<Row>(page.text, page.params);
    return connection(rows.map(toRecord), first);
  }
}
