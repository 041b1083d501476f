import type { Pool } from 'pg';
import type { ServiceContext } from '../common/context';
import { forbidden } from '../common/errors';
import { connectionBy, withTotalCount } from '../common/page';
import { prepared, type SqlExecutor } from '../db/sql';
import { EventSource, OrderEventType, type OrderStatus } from '../orders/order.types';
import { callbackKey, callbacksSql, toCallbackRecord, type CallbackFilterInput, type CallbackRowText } from './callback-log.row';

/** One entry of Order.events: a history row, or a verified callback that named the order. */
export interface HistoryEntry {
  id: string;
  type: OrderEventType;
  fromStatus: OrderStatus | null;
  toStatus: OrderStatus | null;
  source: EventSource;
  note: string | null;
  createdAt: Date;
}

/**
 * An order's history as clients read it: its own events (creation, status changes, refused moves) merged with
 * the verified callbacks that named it, oldest first. It lives with payments because callbacks are theirs. It
 * also answers the admins' search of the whole callback log (Query.callbacks): both are GraphQL's reads of it.
 */
export class OrderHistoryService {
  private readonly db: SqlExecutor;

  constructor(pool: Pool) {
    this.db = prepared(pool);
  }

  async history(orderId: string): Promise<HistoryEntry[]> {
    return (await this.histories([orderId]))[0];
  }

  /** The histories of several orders in two statements, in the order of `orderIds` (for per-request batching). */
  async histories(orderIds: readonly string[]): Promise<HistoryEntry[][]> {
    const ids = [...orderIds];
    const [events, callbacks] = await Promise.all([
      this.db.query<{ order_id: string; id: string; type: string; from_status: string | null; to_status: string | null; source: string; note: string | null; created_at: Date }>(
        'select order_id, id::text as id, type, from_status, to_status, source, note, created_at from order_events where order_id = any($1::uuid[]) order by created_at, id',
        [ids],
      ),
      this.db.query<{ order_id: string; id: string; kind: string; verdict: string; reason: string | null; trade_status: string | null; received_at: Date }>(
        `select order_id, id::text as id, kind, verdict, reason, trade_status, received_at from callback_logs where order_id = any($1::uuid[]) order by received_at, id`,
        [ids],
      ),
    ]);
    return ids.map((orderId) => this.merge(events.rows.filter((e) => e.order_id === orderId), callbacks.rows.filter((c) => c.order_id === orderId)));
  }

  private merge(
    events: Array<{ id: string; type: string; from_status: string | null; to_status: string | null; source: string; note: string | null; created_at: Date }>,
    callbacks: Array<{ id: string; kind: string; verdict: string; reason: string | null; trade_status: string | null; received_at: Date }>,
  ): HistoryEntry[] {
    const entries: HistoryEntry[] = [
      ...events.map((e) => ({
        id: `event:${e.id}`,
        type: e.type as OrderEventType,
        fromStatus: e.from_status as OrderStatus | null,
        toStatus: e.to_status as OrderStatus | null,
        source: e.source as EventSource,
        note: e.note,
        createdAt: e.created_at,
      })),
      ...callbacks.map((c) => ({
        id: `callback:${c.id}`,
        type: OrderEventType.CALLBACK,
        fromStatus: null,
        toStatus: null,
        source: c.kind === 'NOTIFY' ? EventSource.NOTIFY : EventSource.RETURN,
        note: [c.trade_status, c.verdict, c.reason].filter(Boolean).join(' · '),
        createdAt: c.received_at,
      })),
    ];
    return entries.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /**
   * The callback log, newest first, `first` (1–100, default 20) at a time after an opaque cursor, narrowed by the
   * filter (admin only; GraphQL's permissions say so too). Only the safe columns are read: never the raw body.
   * `totalCount` is counted only when a client asks for it.
   */
  async callbacks(ctx: ServiceContext, filter: CallbackFilterInput, first: number | null | undefined, after: string | null | undefined) {
    if (!ctx.user.isAdmin) throw forbidden('Admins only');
    const sql = callbacksSql(filter, first, after);
    const { rows } = await this.db.query<CallbackRowText>(sql.page.text, sql.page.params);
    return withTotalCount(connectionBy(rows.map(toCallbackRecord), sql.first, callbackKey), async () => {
      const { rows: counted } = await this.db.query<{ n: number }>(sql.count.text, sql.count.params);
      return counted[0].n;
    });
  }
}
