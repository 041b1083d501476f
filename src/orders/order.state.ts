import type { Money } from '../common/money';
import type { SqlExecutor } from '../db/sql';
import type { OrderRecord } from './order.row';
import { EventSource, OrderStatus } from './order.types';

/**
 * The order state machine, as data. Forward only:
 *   WAIT_BUYER_PAY → TRADE_SUCCESS → TRADE_FINISHED
 *   WAIT_BUYER_PAY → TRADE_FINISHED            (Alipay may report a non-refundable trade as finished at once)
 *   WAIT_BUYER_PAY → TRADE_CLOSED              (timeout or closeOrder)
 *   TRADE_SUCCESS  → TRADE_CLOSED              (only on a full refund)
 * TRADE_FINISHED and TRADE_CLOSED are final.
 */
export const TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  [OrderStatus.WAIT_BUYER_PAY]: [OrderStatus.TRADE_SUCCESS, OrderStatus.TRADE_FINISHED, OrderStatus.TRADE_CLOSED],
  [OrderStatus.TRADE_SUCCESS]: [OrderStatus.TRADE_FINISHED, OrderStatus.TRADE_CLOSED],
  [OrderStatus.TRADE_FINISHED]: [],
  [OrderStatus.TRADE_CLOSED]: [],
};

/** Alipay's trade_status words that move an order (WAIT_BUYER_PAY moves nothing). */
export function statusFromAlipay(tradeStatus: string | undefined): OrderStatus | undefined {
  return tradeStatus === OrderStatus.TRADE_SUCCESS || tradeStatus === OrderStatus.TRADE_FINISHED || tradeStatus === OrderStatus.TRADE_CLOSED
    ? tradeStatus
    : undefined;
}

/** The statuses in which an order has been paid. */
export const PAID_STATUSES: ReadonlySet<OrderStatus> = new Set([OrderStatus.TRADE_SUCCESS, OrderStatus.TRADE_FINISHED]);

/** What caused a transition, and the facts that come with the new status. */
export interface TransitionCause {
  source: EventSource;
  /** Why, in words, for the history. */
  note?: string;
  /** Alipay's trade number: required to become paid. */
  tradeNo?: string;
  buyerId?: string;
  /** When Alipay took the money (gmt_payment); defaults to now. */
  paidAt?: Date;
  /** The cumulative refunded amount, when the cause is a refund. */
  refundedAmount?: Money;
  at?: Date;
}

/**
 * A verified payment that this order cannot take: the buyer paid after the order was closed here, or paid a
 * second time under another trade_no. The money has moved at Alipay; it becomes a payment exception.
 */
export type PaymentExceptionKind = 'PAID_AFTER_CLOSE' | 'PAID_TWICE';

export type Decision =
  | { outcome: 'APPLY' }
  | { outcome: 'REPEAT' }
  | { outcome: 'REFUSE'; reason: string }
  | { outcome: 'EXCEPTION'; kind: PaymentExceptionKind; reason: string };

/** Decides a move without touching anything: the table, plus the guards that need the cause's facts. */
export function decide(order: Pick<OrderRecord, 'status' | 'amount' | 'tradeNo'>, to: OrderStatus, cause: TransitionCause): Decision {
  const from = order.status;
  const paying = PAID_STATUSES.has(to);
  if (order.tradeNo && cause.tradeNo && order.tradeNo !== cause.tradeNo) {
    if (paying) {
      return {
        outcome: 'EXCEPTION',
        kind: 'PAID_TWICE',
        reason: `Alipay reports trade ${cause.tradeNo} paid for an order paid by trade ${order.tradeNo}: the buyer paid twice`,
      };
    }
    return { outcome: 'REFUSE', reason: `Alipay reports ${to} for trade ${cause.tradeNo}, not this order's trade ${order.tradeNo}` };
  }
  if (from === to) return { outcome: 'REPEAT' };
  // A late or replayed report of an earlier stage of the order's own trade (TRADE_SUCCESS after TRADE_FINISHED,
  // or after a full refund closed it) is old news, not a new payment.
  if (paying && order.tradeNo && cause.tradeNo === order.tradeNo && (from === OrderStatus.TRADE_CLOSED || from === OrderStatus.TRADE_FINISHED)) {
    return { outcome: 'REPEAT' };
  }
  if (!TRANSITIONS[from].includes(to)) {
    if (from === OrderStatus.TRADE_CLOSED && paying && !order.tradeNo) {
      return { outcome: 'EXCEPTION', kind: 'PAID_AFTER_CLOSE', reason: `Alipay reports ${to} for an order already closed here: the buyer paid after the close` };
    }
    return { outcome: 'REFUSE', reason: `${from} cannot move to ${to}` };
  }
  if (paying && from === OrderStatus.WAIT_BUYER_PAY && !cause.tradeNo) {
    return { outcome: 'REFUSE', reason: `becoming ${to} needs Alipay's trade_no` };
  }
  if (from === OrderStatus.TRADE_SUCCESS && to === OrderStatus.TRADE_CLOSED) {
    if (!cause.refundedAmount || !cause.refundedAmount.equals(order.amount)) {
      return { outcome: 'REFUSE', reason: 'a paid order closes only when it is refunded in full' };
    }
  }
  return { outcome: 'APPLY' };
}

export type TransitionResult =
  | { outcome: 'APPLIED'; from: OrderStatus; to: OrderStatus }
  | { outcome: 'REPEATED' }
  | { outcome: 'REFUSED'; reason: string }
  /** Nothing was written: the caller records the payment exception (once) in the same transaction. */
  | { outcome: 'EXCEPTION'; kind: PaymentExceptionKind; reason: string };

/** What the transition reads of an order: its row as locked by the caller with `lockOrder`. */
export type OrderState = Pick<OrderRecord, 'id' | 'orderNo' | 'status' | 'amount' | 'tradeNo'>;

/** PostgreSQL channel on which committed status changes are announced (payload: the order id). */
export const ORDER_STATUS_CHANNEL = 'order_status_changed';

/** The status and source parameters are cast to text where they are used: the columns are domains over text. */
const APPLY_SQL = `
  with changed as (
    update orders set
      status = $2::text,
      trade_no = coalesce($3, trade_no),
      buyer_id = coalesce($4, buyer_id),
      paid_at = case when $5::boolean then coalesce(paid_at, $6) else paid_at end,
      closed_at = case when $2::text = 'TRADE_CLOSED' then $7 else closed_at end,
      refunded_amount = coalesce($8, refunded_amount),
      updated_at = $7
    where id = $1 and status = $9::text
    returning id),
  history as (
    insert into order_events (order_id, type, from_status, to_status, source, note, created_at)
    select id, 'STATUS_CHANGED', $9::text, $2::text, $10::text, $11, $7 from changed),
  announced as (
    select pg_notify('${ORDER_STATUS_CHANNEL}', c.id::text) from changed c
    where exists (select 1 from order_watchers w where w.order_id = c.id))
  select id, (select count(*) from announced) as announced from changed`;

const REFUSE_SQL = `
  insert into order_events (order_id, type, from_status, to_status, source, note, created_at)
  values ($1, 'TRANSITION_REFUSED', $2, $3, $4, $5, $6)`;

/** Writes a TRANSITION_REFUSED history row: a move that was asked for and not made, and why. */
export async function recordRefusal(db: SqlExecutor, order: Pick<OrderRecord, 'id' | 'status'>, to: OrderStatus, cause: TransitionCause, reason: string): Promise<void> {
  const note = cause.note ? `${reason} (${cause.note})` : reason;
  await db.query(REFUSE_SQL, [order.id, order.status, to, cause.source, note, cause.at ?? new Date()]);
}

/**
 * The one function that changes an order's status. Call it inside a transaction holding the order's row lock
 * (`lockOrder` in order.row.ts), with the executor of that transaction. In one statement it applies the table, sets the
 * facts that come with the new status, writes the history row and, when a subscription watches the order,
 * announces the change on commit (pg_notify is transactional). A refused move writes its history row; a repeat writes nothing; a payment the order cannot take writes
 * nothing and is returned as EXCEPTION for the caller to record. The record it is given stays as it was: a
 * caller that needs the new row reads it again.
 */
export async function transition(db: SqlExecutor, order: OrderState, to: OrderStatus, cause: TransitionCause): Promise<TransitionResult> {
  const decision = decide(order, to, cause);
  if (decision.outcome === 'REPEAT') return { outcome: 'REPEATED' };
  if (decision.outcome === 'EXCEPTION') return { outcome: 'EXCEPTION', kind: decision.kind, reason: decision.reason };
  const at = cause.at ?? new Date();
  const from = order.status;
  if (decision.outcome === 'REFUSE') {
    await recordRefusal(db, order, to, cause, decision.reason);
    return { outcome: 'REFUSED', reason: decision.reason };
  }
  const { rows } = await db.query(APPLY_SQL, [
    order.id,
    to,
    cause.tradeNo ?? null,
    cause.buyerId ?? null,
    PAID_STATUSES.has(to),
    cause.paidAt ?? at,
    at,
    cause.refundedAmount?.toString() ?? null,
    from,
    cause.source,
    cause.note ?? null,
  ]);
  if (rows.length !== 1) throw new Error(`order ${order.id} was not ${from} when it was to become ${to}: is it locked?`);
  db.emit({
    type: 'order.status_changed',
    orderId: order.id,
    orderNo: order.orderNo,
    amount: order.amount.toString(),
    from,
    to,
    source: cause.source,
    tradeNo: cause.tradeNo ?? order.tradeNo ?? null,
    ...(cause.refundedAmount ? { refundedAmount: cause.refundedAmount.toString() } : {}),
  });
  return { outcome: 'APPLIED', from, to };
}
