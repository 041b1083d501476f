import { filterEnum, filterText, SqlFilter, type Sql } from '../common/filter';
import { Money } from '../common/money';
import { decodeCursor, pageSize } from '../common/page';
import { RefundStatus } from './refund.entity';

/** A refund as the service works with it: a plain copy of its row (what GraphQL resolves `Refund` from). */
export interface RefundRecord {
  readonly id: string;
  readonly orderId: string;
  readonly outRequestNo: string;
  readonly amount: Money;
  readonly reason: string | null;
  readonly status: RefundStatus;
  readonly failureReason: string | null;
  readonly requestedBy: string;
  readonly idempotencyKey: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export const REFUND_COLUMNS = `id, order_id, out_request_no, amount::text as amount, reason, status, failure_reason, requested_by,
  idempotency_key, created_at, updated_at`;

export interface RefundRowText {
  id: string;
  order_id: string;
  out_request_no: string;
  amount: string;
  reason: string | null;
  status: string;
  failure_reason: string | null;
  requested_by: string;
  idempotency_key: string | null;
  created_at: Date;
  updated_at: Date;
}

export function toRefundRecord(row: RefundRowText): RefundRecord {
  const amount = Money.parseDecimal(row.amount);
  if (!amount) throw new Error('the database returned a refund amount that is not a decimal');
  return {
    id: row.id,
    orderId: row.order_id,
    outRequestNo: row.out_request_no,
    amount,
    reason: row.reason,
    status: row.status as RefundStatus,
    failureReason: row.failure_reason,
    requestedBy: row.requested_by,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** What an admin may filter refunds by; each given field narrows the list. */
export interface RefundFilterInput {
  status?: RefundStatus | null;
  /** The order's number (out_trade_no). */
  orderNo?: string | null;
}

/**
 * The SQL of one page of the refunds list and of its totalCount, after checking the filter (BAD_USER_INPUT before
 * any SQL). The order number is looked up once (orders_order_no_unique), then its refunds by refunds_order_idx;
 * by status refunds_status_created_idx; unfiltered refunds_created_idx. test/integration/admin-view-plans.test.ts
 * runs EXPLAIN on what this returns.
 */
export function refundsSql(filter: RefundFilterInput, firstArg: number | null | undefined, after: string | null | undefined): { first: number; page: Sql; count: Sql } {
  const first = pageSize(firstArg);
  const status = filterEnum(filter.status, RefundStatus, 'status');
  const orderNo = filterText(filter.orderNo, 'orderNo', 64);
  const cursor = after ? decodeCursor(after) : null;
  const where = new SqlFilter().add('status = $?', status).add('order_id = (select id from orders where order_no = $?)', orderNo);
  return {
    first,
    page: where.page(`select ${REFUND_COLUMNS} from refunds`, { time: 'created_at', id: 'id' }, cursor, first),
    count: where.count('refunds'),
  };
}
