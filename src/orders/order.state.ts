import type { Money } from '../common/money';
import type { SqlExecutor } from '../db/sql';
import { ORDER_COLUMNS, toOrderRecord, type OrderRecord, type OrderRowText } from './order.row';
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

/**
 * The one statement that moves an order: the new status and its facts, the STATUS_CHANGED history row, and the
 * announcement to watchers, guarded by `guard` (the row and state the caller decided from).
 */
const applySql = (guard: string) => `
  with changed as (
    update orders set
      status = $2,
      trade_no = coalesce($3, trade_no),
      buyer_id = coalesce($4, buyer_id),
      paid_at = case when $5::boolean then coalesce(paid_at, $6) else paid_at end,
      closed_at = case when $2 = 'TRADE_CLOSED' then $7 else closed_at end,
      refunded_amount = coalesce($8, refunded_amount),
      updated_at = $7
    where ${guard}
    returning ${ORDER_COLUMNS}),
  history as (
    insert into order_events (order_id, type, from_status, to_status, source, note, created_at)
    select id, 'STATUS_CHANGED', $9, $2, $10, $11, $7 from changed),
  announced as (
    select pg_notify('${ORDER_STATUS_CHANNEL}', c.id::text) from changed c
    where exists (select 1 from order_watchers w where w.order_id = c.id))
  select *, (select count(*) from announced) as announced from changed`;

/** For an order the caller holds locked (`lockOrder`): by id, still in the status it was read in. */
const APPLY_SQL = applySql('id = $1 and status = $9');

/**
 * For an order nobody locked: by order number, only while it is still exactly in the state the decision was made
 * for (status, amount, no trade yet). The row lock this UPDATE takes and its re-checked WHERE make it atomic: two
 * racing callers cannot both match.
 */
const APPLY_UNTAKEN_SQL = applySql('order_no = $1 and status = $9 and amount = $12::numeric and trade_no is null');

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
  const { rows } = await db.query(APPLY_SQL, applyParams(order.id, from, to, cause, at));
  if (rows.length !== 1) throw new Error(`order ${order.id} was not ${from} when it was to become ${to}: is it locked?`);
  announceChange(db, order, from, to, cause);
  return { outcome: 'APPLIED', from, to };
}

function applyParams(key: string, from: OrderStatus, to: OrderStatus, cause: TransitionCause, at: Date): unknown[] {
  return [
    key,
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
  ];
}

function announceChange(db: SqlExecutor, order: Pick<OrderRecord, 'id' | 'orderNo' | 'amount' | 'tradeNo'>, from: OrderStatus, to: OrderStatus, cause: TransitionCause): void {
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
}

/**
 * The first report of a payment, without a prior row lock: moves the order `orderNo` to `to` if, and only if, it
 * is still unpaid (WAIT_BUYER_PAY, no trade yet) with exactly `amount`, and `decide()` applies that move. This is
 * `transition()` for the state the caller expects, checked by the UPDATE itself instead of a SELECT … FOR UPDATE
 * before it: one statement instead of two on the hottest path (a notify's first delivery). Returns the order as it
 * is now, or null when the order is not in that state (or does not exist); then nothing was written and the
 * caller takes the general path (`lockOrder`, then `transition`).
 */
export async function transitionUntaken(db: SqlExecutor, orderNo: string, amount: Money, to: OrderStatus, cause: TransitionCause): Promise<OrderRecord | null> {
  const from = OrderStatus.WAIT_BUYER_PAY;
  if (decide({ status: from, amount, tradeNo: null }, to, cause).outcome !== 'APPLY') return null;
  const at = cause.at ?? new Date();
  const { rows } = await db.query<OrderRowText>(APPLY_UNTAKEN_SQL, [...applyParams(orderNo, from, to, cause, at), amount.toString()]);
  if (!rows[0]) return null;
  const order = toOrderRecord(rows[0]);
  announceChange(db, { ...order, tradeNo: null }, from, to, cause);
  return order;
}
