import { filterEnum, filterText, filterTimeRange, SqlFilter, type Sql } from '../common/filter';
import { BIGINT_ID, decodeCursor, pageSize } from '../common/page';
import { CallbackKind, CallbackVerdict } from './callback-log.entity';

/**
 * A recorded callback as admins read it: a plain copy of the safe columns of its row. The raw body (which holds
 * the `sign`) and its digest are not among them: the list's SQL never reads them.
 */
export interface CallbackRecord {
  readonly id: string;
  readonly kind: CallbackKind;
  readonly verdict: CallbackVerdict;
  readonly reason: string | null;
  readonly signatureValid: boolean;
  /** Linked only once the signature verified. */
  readonly orderId: string | null;
  readonly outTradeNo: string | null;
  readonly notifyId: string | null;
  readonly tradeStatus: string | null;
  readonly remoteAddress: string | null;
  readonly rawLength: number | null;
  readonly receivedAt: Date;
}

const CALLBACK_COLUMNS = `id::text as id, kind, verdict, reason, signature_valid, order_id, out_trade_no, notify_id, trade_status, remote_address,
  raw_length, received_at`;

export interface CallbackRowText {
  id: string;
  kind: string;
  verdict: string;
  reason: string | null;
  signature_valid: boolean;
  order_id: string | null;
  out_trade_no: string | null;
  notify_id: string | null;
  trade_status: string | null;
  remote_address: string | null;
  raw_length: number | null;
  received_at: Date;
}

export function toCallbackRecord(row: CallbackRowText): CallbackRecord {
  return {
    id: row.id,
    kind: row.kind as CallbackKind,
    verdict: row.verdict as CallbackVerdict,
    reason: row.reason,
    signatureValid: row.signature_valid,
    orderId: row.order_id,
    outTradeNo: row.out_trade_no,
    notifyId: row.notify_id,
    tradeStatus: row.trade_status,
    remoteAddress: row.remote_address,
    rawLength: row.raw_length,
    receivedAt: row.received_at,
  };
}

/** Where a callback stands in the newest-first list: when it was received, then its id. */
export const callbackKey = (record: CallbackRecord) => ({ createdAt: record.receivedAt, id: record.id });

/** What an admin may filter the callback log by; each given field narrows the list (all of them together). */
export interface CallbackFilterInput {
  /** The out_trade_no the callback named (verified or not). */
  orderNo?: string | null;
  kind?: CallbackKind | null;
  verdict?: CallbackVerdict | null;
  /** Received at or after this instant. */
  receivedAfter?: Date | null;
  /** Received before this instant. */
  receivedBefore?: Date | null;
}

/**
 * The SQL of one page of the callback log and of its totalCount, after checking the filter (BAD_USER_INPUT before
 * any SQL). Newest first by (received_at, id); every filter has an index that serves the first page in that order:
 * callback_logs_out_trade_no_idx, _kind_received_idx, _verdict_received_idx, _received_idx (the time range alone).
 * test/integration/admin-view-plans.test.ts runs EXPLAIN on what this returns.
 */
export function callbacksSql(filter: CallbackFilterInput, firstArg: number | null | undefined, after: string | null | undefined): { first: number; page: Sql; count: Sql } {
  const first = pageSize(firstArg);
  const orderNo = filterText(filter.orderNo, 'orderNo', 64);
  const kind = filterEnum(filter.kind, CallbackKind, 'kind');
  const verdict = filterEnum(filter.verdict, CallbackVerdict, 'verdict');
  const received = filterTimeRange(filter.receivedAfter, filter.receivedBefore, { from: 'receivedAfter', until: 'receivedBefore' });
  const cursor = after ? decodeCursor(after, BIGINT_ID) : null;
  const where = new SqlFilter()
    .add('out_trade_no = $?', orderNo)
    .add('kind = $?', kind)
    .add('verdict = $?', verdict)
    .add('received_at >= $?', received.from)
    .add('received_at < $?', received.until);
  return {
    first,
    // The table's id (bigint), not the `id` the select list casts to text: that one would sort '9' after '10'.
    page: where.page(`select ${CALLBACK_COLUMNS} from callback_logs`, { time: 'callback_logs.received_at', id: 'callback_logs.id' }, cursor, first),
    count: where.count('callback_logs'),
  };
}
