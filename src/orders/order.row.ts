import type { User } from '../auth/user.entity';
import { Money } from '../common/money';
import { Order } from './order.entity';
import type { OrderStatus } from './order.types';

/** An order as the plain-SQL paths read it (amounts as text, as PostgreSQL prints numeric). */
export interface OrderRowText {
  id: string;
  order_no: string;
  status: string;
  amount: string;
  trade_no: string | null;
  refunded_amount: string;
}

/** The fields of an order the notify and refund bookkeeping work with. */
export interface OrderRow {
  id: string;
  orderNo: string;
  status: OrderStatus;
  amount: Money;
  tradeNo: string | null;
  refundedAmount: Money;
}

function money(text: string): Money {
  const value = Money.parseDecimal(text);
  if (!value) throw new Error('the database returned an amount that is not a decimal');
  return value;
}

export function orderRow(row: OrderRowText): OrderRow {
  return {
    id: row.id,
    orderNo: row.order_no,
    status: row.status as OrderStatus,
    amount: money(row.amount),
    tradeNo: row.trade_no,
    refundedAmount: money(row.refunded_amount),
  };
}

/** Every column of an order, as the plain-SQL paths select or return them. */
export const ORDER_COLUMNS = `id, order_no, user_id, subject, body, amount::text as amount, status, trade_no, buyer_id, paid_at, closed_at,
  refunded_amount::text as refunded_amount, expires_at, idempotency_key, checked_at, created_at, updated_at`;

export interface FullOrderRowText extends OrderRowText {
  user_id: string;
  subject: string;
  body: string | null;
  buyer_id: string | null;
  paid_at: Date | null;
  closed_at: Date | null;
  expires_at: Date;
  idempotency_key: string | null;
  checked_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * An Order read by plain SQL, shaped like the entity (GraphQL resolves it the same way), but not managed by
 * MikroORM: nothing is flushed from it.
 */
export function orderFromRow(row: FullOrderRowText): Order {
  const order = Object.create(Order.prototype) as Order;
  Object.assign(order, {
    id: row.id,
    orderNo: row.order_no,
    user: { id: row.user_id } as User,
    subject: row.subject,
    body: row.body,
    amount: money(row.amount),
    status: row.status as OrderStatus,
    tradeNo: row.trade_no,
    buyerId: row.buyer_id,
    paidAt: row.paid_at,
    closedAt: row.closed_at,
    refundedAmount: money(row.refunded_amount),
    expiresAt: row.expires_at,
    idempotencyKey: row.idempotency_key,
    checkedAt: row.checked_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
  return order;
}
