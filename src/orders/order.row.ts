import { Money } from '../common/money';
import { UUID } from '../common/text';
import type { SqlExecutor } from '../db/sql';
import type { OrderStatus } from './order.types';

/**
 * An order as the service works with it: a plain, immutable copy of its row. This is what every service method
 * returns and what GraphQL resolves `Order` from. It is not a MikroORM entity: nothing is tracked or flushed
 * from it, so nothing can write a stale copy back. A caller that needs the order after a change reads it again.
 */
export interface OrderRecord {
  readonly id: string;
  readonly orderNo: string;
  readonly userId: string;
  readonly subject: string;
  readonly body: string | null;
  readonly amount: Money;
  readonly status: OrderStatus;
  readonly tradeNo: string | null;
  readonly buyerId: string | null;
  readonly paidAt: Date | null;
  readonly closedAt: Date | null;
  readonly refundedAmount: Money;
  readonly expiresAt: Date;
  readonly idempotencyKey: string | null;
  readonly checkedAt: Date | null;
  /** While set, a close here is not yet known to hold at Alipay: the jobs keep closing it there until then. */
  readonly alipayCloseUntil: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Every column of an order, as the SQL paths select or return them (amounts as text, as PostgreSQL prints numeric). */
export const ORDER_COLUMNS = `id, order_no, user_id, subject, body, amount::text as amount, status, trade_no, buyer_id, paid_at, closed_at,
  refunded_amount::text as refunded_amount, expires_at, idempotency_key, checked_at, alipay_close_until, created_at, updated_at`;

export interface OrderRowText {
  id: string;
  order_no: string;
  user_id: string;
  subject: string;
  body: string | null;
  amount: string;
  status: string;
  trade_no: string | null;
  buyer_id: string | null;
  paid_at: Date | null;
  closed_at: Date | null;
  refunded_amount: string;
  expires_at: Date;
  idempotency_key: string | null;
  checked_at: Date | null;
  alipay_close_until: Date | null;
  created_at: Date;
  updated_at: Date;
}

function money(text: string): Money {
  const value = Money.parseDecimal(text);
  if (!value) throw new Error('the database returned an amount that is not a decimal');
  return value;
}

export function toOrderRecord(row: OrderRowText): OrderRecord {
  return {
    id: row.id,
    orderNo: row.order_no,
    userId: row.user_id,
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
    alipayCloseUntil: row.alipay_close_until,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}


/** Which order: by its id (UUID) or its order number (Alipay's out_trade_no). */
export type OrderKey = { id: string } | { orderNo: string };

const SELECT_BY_ID = `select ${ORDER_COLUMNS} from orders where id = $1`;
const SELECT_BY_NO = `select ${ORDER_COLUMNS} from orders where order_no = $1`;

/**
 * The one way to hold an order for a change: inside a transaction (an executor from `inTransaction`), lock its
 * row (SELECT … FOR UPDATE) and return it as a plain record, or null when there is no such order. Everything
 * that changes an order or its refunds does this first, then decides from what it read under the lock.
 */
export async function lockOrder(tx: SqlExecutor, key: OrderKey): Promise<OrderRecord | null> {
  if ('id' in key && !UUID.test(key.id)) return null;
  const { rows } =
    'id' in key ? await tx.query<OrderRowText>(`${SELECT_BY_ID} for update`, [key.id]) : await tx.query<OrderRowText>(`${SELECT_BY_NO} for update`, [key.orderNo]);
  return rows[0] ? toOrderRecord(rows[0]) : null;
}

/** An order read without a lock (for answers, never for deciding a change). */
export async function readOrder(db: SqlExecutor, key: OrderKey): Promise<OrderRecord | null> {
  if ('id' in key && !UUID.test(key.id)) return null;
  const { rows } = 'id' in key ? await db.query<OrderRowText>(SELECT_BY_ID, [key.id]) : await db.query<OrderRowText>(SELECT_BY_NO, [key.orderNo]);
  return rows[0] ? toOrderRecord(rows[0]) : null;
}
