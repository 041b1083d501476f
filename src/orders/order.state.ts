import type { Money } from '../common/money';
import type { Order } from './order.entity';
import type { SqlExecutor } from '../db/sql';
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

export type Decision =
  | { outcome: 'APPLY' }
  | { outcome: 'REPEAT' }
  /** `alert`: money may have moved that this order cannot take (paid twice, or paid after close): a human must look. */
  | { outcome: 'REFUSE'; reason: string; alert?: boolean };

/** Decides a move without touching anything: the table, plus the guards that need the cause's facts. */
export function decide(order: Pick<Order, 'status' | 'amount' | 'tradeNo'>, to: OrderStatus, cause: TransitionCause): Decision {
  const from = order.status;
  if (order.tradeNo && cause.tradeNo && order.tradeNo !== cause.tradeNo) {
    return {
      outcome: 'REFUSE',
      reason: `Alipay reports trade ${cause.tradeNo} for an order paid by trade ${order.tradeNo}: the buyer may have paid twice; refund one`,
      alert: true,
    };
  }
  if (from === to) return { outcome: 'REPEAT' };
  if (!TRANSITIONS[from].includes(to)) {
    if (from === OrderStatus.TRADE_CLOSED && PAID_STATUSES.has(to)) {
      return {
        outcome: 'REFUSE',
        reason: `Alipay reports ${to} for an order already closed here: the buyer may have paid; check and refund if so`,
        alert: true,
      };
    }
    return { outcome: 'REFUSE', reason: `${from} cannot move to ${to}` };
  }
  if (PAID_STATUSES.has(to) && from === OrderStatus.WAIT_BUYER_PAY && !cause.tradeNo) {
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
  | { outcome: 'REFUSED'; reason: string; alert: boolean };

/** What the transition reads of an order: its row as locked by the caller (an entity or a plain row). */
export type OrderState = Pick<Order, 'id' | 'status' | 'amount' | 'tradeNo'>;

/** PostgreSQL channel on which committed status changes are announced (payload: the order id). */
export const ORDER_STATUS_CHANNEL = 'order_status_changed';

const APPLY_SQL = `
  with changed as (
    update orders set
      status = $2,
      trade_no = coalesce($3, trade_no),
      buyer_id = coalesce($4, buyer_id),
      paid_at = case when $5::boolean then coalesce(paid_at, $6) else paid_at end,
      closed_at = case when $2 = 'TRADE_CLOSED' then $7 else closed_at end,
      refunded_amount = coalesce($8, refunded_amount),
      updated_at = $7
    where id = $1 and status = $9
    returning id),
  history as (
    insert into order_events (order_id, type, from_status, to_status, source, note, created_at)
    select id, 'STATUS_CHANGED', $9, $2, $10, $11, $7 from changed),
  announced as (
    select pg_notify('${ORDER_STATUS_CHANNEL}', c.id::text) from changed c
    where exists (select 1 from order_watchers w where w.order_id = c.id))
  select id, (select count(*) from announced) as announced from changed`;

const REFUSE_SQL = `
  insert into order_events (order_id, type, from_status, to_status, source, note, created_at)
  values ($1, 'TRANSITION_REFUSED', $2, $3, $4, $5, $6)`;

/**
 * The one function that changes an order's status. Call it inside a transaction holding the order's row lock
 * (SELECT … FOR UPDATE), with an executor of that transaction. In one statement it applies the table, sets the
 * facts that come with the new status, writes the history row and, when a subscription watches the order,
 * announces the change on commit (pg_notify is transactional). A refused move writes its history row; a repeat writes nothing. It does not touch the `order`
 * object it is given: a caller that needs the new row reads it again.
 */
export async function transition(db: SqlExecutor, order: OrderState, to: OrderStatus, cause: TransitionCause): Promise<TransitionResult> {
  const decision = decide(order, to, cause);
  if (decision.outcome === 'REPEAT') return { outcome: 'REPEATED' };
  const at = cause.at ?? new Date();
  const from = order.status;
  if (decision.outcome === 'REFUSE') {
    const note = cause.note ? `${decision.reason} (${cause.note})` : decision.reason;
    await db.query(REFUSE_SQL, [order.id, from, to, cause.source, note, at]);
    return { outcome: 'REFUSED', reason: decision.reason, alert: decision.alert ?? false };
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
  return { outcome: 'APPLIED', from, to };
}
