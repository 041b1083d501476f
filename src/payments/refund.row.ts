import { Money } from '../common/money';
import type { RefundStatus } from './refund.entity';

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
