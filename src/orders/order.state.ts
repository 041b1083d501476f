import type { EntityManager } from '@mikro-orm/postgresql';
import type { Money } from '../common/money';
import type { Order } from './order.entity';
import { OrderEvent } from './order-event.entity';
import { EventSource, OrderEventType, OrderStatus } from './order.types';

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

/** Order.status is readonly everywhere else; this is the one place that writes it. */
type WritableStatus = { status: OrderStatus };

/** PostgreSQL channel on which committed status changes are announced (payload: the order id). */
export const ORDER_STATUS_CHANNEL = 'order_status_changed';

/**
 * The one function that changes an order's status. Call it inside a transaction holding the order's row lock
 * (SELECT … FOR UPDATE). It applies the table, sets the facts that come with the new status, writes the history
 * row (also for a refused move), and announces the change on commit (pg_notify is transactional). Repeats are
 * no-ops and write nothing. The caller's flush/commit persists everything together.
 */
export async function transition(
  em: EntityManager,
  order: Order,
  to: OrderStatus,
  cause: TransitionCause,
): Promise<TransitionResult> {
  const decision = decide(order, to, cause);
  if (decision.outcome === 'REPEAT') return { outcome: 'REPEATED' };
  const at = cause.at ?? new Date();
  const from = order.status;

  if (decision.outcome === 'REFUSE') {
    em.persist(
      em.create(OrderEvent, {
        order,
        type: OrderEventType.TRANSITION_REFUSED,
        fromStatus: from,
        toStatus: to,
        source: cause.source,
        note: cause.note ? `${decision.reason} (${cause.note})` : decision.reason,
        createdAt: at,
      }),
    );
    return { outcome: 'REFUSED', reason: decision.reason, alert: decision.alert ?? false };
  }

  (order as WritableStatus).status = to;
  order.updatedAt = at;
  if (cause.tradeNo) order.tradeNo = cause.tradeNo;
  if (cause.buyerId) order.buyerId = cause.buyerId;
  if (PAID_STATUSES.has(to) && !order.paidAt) order.paidAt = cause.paidAt ?? at;
  if (to === OrderStatus.TRADE_CLOSED) order.closedAt = at;
  if (cause.refundedAmount) order.refundedAmount = cause.refundedAmount;
  em.persist(
    em.create(OrderEvent, {
      order,
      type: OrderEventType.STATUS_CHANGED,
      fromStatus: from,
      toStatus: to,
      source: cause.source,
      note: cause.note ?? null,
      createdAt: at,
    }),
  );
  await em.execute('select pg_notify(?, ?)', [ORDER_STATUS_CHANNEL, order.id], 'run');
  return { outcome: 'APPLIED', from, to };
}
