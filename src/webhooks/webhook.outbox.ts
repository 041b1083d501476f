import { randomUUID } from 'node:crypto';
import type { CommittedEvent, SqlExecutor } from '../db/sql';
import { readOrder, type OrderRecord } from '../orders/order.row';
import type { WebhookEventType } from './webhook.entities';

/** What the outbox wrote for a committed event (for the after-commit log in development). */
export interface OutboxEntry {
  id: string;
  type: WebhookEventType;
  body: string;
  /** How many endpoints it is on its way to. */
  deliveries: number;
}

/** The webhook event a committed business event is, if any. */
export function webhookTypeOf(event: CommittedEvent): WebhookEventType | null {
  switch (event.type) {
    case 'order.status_changed':
      if (event.to === 'TRADE_CLOSED') return 'order.closed';
      // Paid: TRADE_SUCCESS, or TRADE_FINISHED straight from WAIT_BUYER_PAY (products without refunds).
      if (event.from === 'WAIT_BUYER_PAY' && (event.to === 'TRADE_SUCCESS' || event.to === 'TRADE_FINISHED')) return 'order.paid';
      return null;
    case 'order.refunded':
      return 'order.refunded';
    case 'refund.failed':
      return 'refund.failed';
    case 'payment.exception':
      return 'payment.exception';
    case 'reconciliation.mismatch':
      return 'reconciliation.mismatch';
    default:
      return null;
  }
}

/** The order as a webhook shows it: the contract's fields, money as two-place decimal strings. */
function orderData(order: OrderRecord) {
  return {
    id: order.id,
    orderNo: order.orderNo,
    userId: order.userId,
    amount: order.amount.toString(),
    status: order.status,
    tradeNo: order.tradeNo,
    paidAt: order.paidAt?.toISOString() ?? null,
    refundedAmount: order.refundedAmount.toString(),
  };
}

const REFUND_SQL = `select id, out_request_no, amount::text as amount, status from refunds where order_id = $1 and out_request_no = $2`;

async function refundData(tx: SqlExecutor, event: CommittedEvent): Promise<Record<string, unknown>> {
  const orderId = String(event.orderId);
  const outRequestNo = typeof event.outRequestNo === 'string' ? event.outRequestNo : null;
  const { rows } = outRequestNo
    ? await tx.query<{ id: string; out_request_no: string; amount: string; status: string }>(REFUND_SQL, [orderId, outRequestNo])
    : { rows: [] };
  const row = rows[0];
  if (row) return { id: row.id, outRequestNo: row.out_request_no, amount: row.amount, status: row.status };
  // A refund made outside this service (at Alipay's console): what its notify told us.
  return { id: null, outRequestNo, amount: event.refundedNow ?? event.amount ?? null, status: event.type === 'refund.failed' ? 'FAILED' : 'SUCCEEDED' };
}

/** The enabled endpoints and the event types each wants (null: all). */
export type EnabledEndpoints = ReadonlyArray<{ id: string; events: string[] | null }>;
const INSERT_SQL = `
  with event as (
    insert into webhook_events (id, type, order_id, body, created_at) values ($1, $2, $3, $4, $5) returning seq)
  insert into webhook_deliveries (id, event_id, endpoint_id, order_id, seq, status, attempts, next_attempt_at, schedule_from, created_at, updated_at)
  select gen_random_uuid(), $1, e.id, $3, event.seq, 'PENDING', 0, $5, $5, $5, $5
  from webhook_endpoints e, event
  where e.id = any($6::uuid[])`;

/**
 * Writes the webhook events of a transaction's business events into the outbox, inside that transaction (the
 * pool's `beforeCommit`): the event row with the exact body every attempt will send, and one delivery per enabled
 * endpoint that wants its type. A rolled-back change leaves no row; a committed one cannot lose its event.
 */
/**
 * The webhook events of a transaction's business events, in order. A status change that also records a refund
 * (Alipay's refund reaching us before its payment, or a query answering TRADE_CLOSED for a refunded trade) carries
 * the facts the merchant would otherwise miss: `order.paid` when the order was never paid here, and
 * `order.refunded` unless the transaction announced the refund itself — then the change's own event.
 */
function webhookEvents(events: readonly CommittedEvent[]): Array<{ event: CommittedEvent; type: WebhookEventType }> {
  const out: Array<{ event: CommittedEvent; type: WebhookEventType }> = [];
  const refundAnnounced = new Set(events.filter((e) => e.type === 'order.refunded').map((e) => e.orderId));
  for (const event of events) {
    const type = webhookTypeOf(event);
    if (!type) continue;
    if (event.type === 'order.status_changed' && typeof event.refundedAmount === 'string' && !refundAnnounced.has(event.orderId)) {
      if (event.from === 'WAIT_BUYER_PAY') out.push({ event, type: 'order.paid' });
      out.push({ event: { ...event, type: 'order.refunded', refundedNow: event.refundedAmount, outRequestNo: null }, type: 'order.refunded' });
    }
    out.push({ event, type });
  }
  return out;
}

export async function writeOutbox(
  tx: SqlExecutor,
  events: readonly CommittedEvent[],
  endpoints: (tx: SqlExecutor) => Promise<EnabledEndpoints>,
  options: { describeUnsent: boolean },
): Promise<OutboxEntry[]> {
  const wanted = webhookEvents(events);
  if (!wanted.length) return [];
  const enabled = await endpoints(tx);
  const written: OutboxEntry[] = [];
  for (const { event, type } of wanted) {
    const targets = enabled.filter((e) => !e.events || e.events.includes(type)).map((e) => e.id);
    // Nobody to send it to: nothing to write (in development, the body is still described in the log).
    if (!targets.length && !options.describeUnsent) continue;
    let data: Record<string, unknown>;
    if (type === 'reconciliation.mismatch') {
      // About a statement line, which may name no order of ours.
      const order = typeof event.outTradeNo === 'string' ? await readOrder(tx, { orderNo: event.outTradeNo }) : null;
      const { type: _type, reportId, billDate, ...line } = event;
      data = { mismatch: { reportId, billDate, ...line }, ...(order ? { order: orderData(order) } : {}) };
    } else {
      const orderId = typeof event.orderId === 'string' ? event.orderId : null;
      const order = orderId ? await readOrder(tx, { id: orderId }) : null;
      if (!order) continue;
      data = { order: orderData(order) };
      if (type === 'order.refunded' || type === 'refund.failed') data.refund = await refundData(tx, event);
      if (type === 'payment.exception') {
        data.paymentException = { id: event.paymentExceptionId, tradeNo: event.tradeNo, amount: event.amount, kind: event.kind, status: event.status ?? null };
      }
    }
    const at = new Date();
    const id = `msg_${randomUUID().replace(/-/g, '')}`;
    const body = JSON.stringify({ type, timestamp: at.toISOString(), data });
    const orderId = (data.order as { id?: string } | undefined)?.id ?? null;
    if (targets.length) await tx.query(INSERT_SQL, [id, type, orderId, body, at, targets]);
    written.push({ id, type, body, deliveries: targets.length });
  }
  return written;
}
