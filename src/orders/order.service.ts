import { randomInt, randomUUID } from 'node:crypto';
import type { FilterQuery } from '@mikro-orm/core';
import type { Pool } from 'pg';
import type { EntityManager } from '@mikro-orm/postgresql';
import { beijingTime } from '../alipay/alipay.time';
import type { ServiceContext } from '../common/context';
import { badInput, notFound } from '../common/errors';
import { prepared, sqlState, type SqlExecutor } from '../db/sql';
import { CallbackLog } from '../payments/callback-log.entity';
import { ORDER_COLUMNS, orderFromRow, type FullOrderRowText } from './order.row';
import type { OrderConnection } from './order.connection';
import { Order } from './order.entity';
import { OrderEvent } from './order-event.entity';
import { validateCreateOrder, type CreateOrderInput, type ValidOrderInput } from './order.inputs';
import { EventSource, OrderEventType, OrderStatus } from './order.types';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One entry of Order.events: a history row, or a verified callback that named the order. */
export type HistoryEntry = Pick<OrderEvent, 'id' | 'type' | 'fromStatus' | 'toStatus' | 'source' | 'note' | 'createdAt'>;

/** A new out_trade_no: the Beijing date and 16 random digits, e.g. 2026112548213371906624517. */
export function newOrderNo(at: Date): string {
  const date = beijingTime(at).slice(0, 10).replace(/-/g, '');
  const digits = `${randomInt(0, 1e8)}`.padStart(8, '0') + `${randomInt(0, 1e8)}`.padStart(8, '0');
  return `${date}${digits}`;
}

function sameRequest(order: Order, input: ValidOrderInput): boolean {
  return order.amount.equals(input.amount) && order.subject === input.subject && order.body === input.body;
}

const INSERT_ORDER_SQL = `
  with new_user as (insert into users (id, created_at) values ($1, $2) on conflict (id) do nothing),
  new_order as (
    insert into orders (id, order_no, user_id, subject, body, amount, status, refunded_amount, expires_at, idempotency_key, created_at, updated_at)
    values ($3, $4, $1, $5, $6, $7, 'WAIT_BUYER_PAY', 0, $8, $9, $2, $2)
    returning ${ORDER_COLUMNS}),
  history as (
    insert into order_events (order_id, type, to_status, source, created_at)
    select id, 'CREATED', 'WAIT_BUYER_PAY', 'API', $2 from new_order)
  select * from new_order`;

export class OrderService {
  private readonly db: SqlExecutor;

  constructor(
    pool: Pool,
    private readonly options: { orderTtlMs: number },
  ) {
    this.db = prepared(pool);
  }

  /**
   * Creates an order in WAIT_BUYER_PAY with its CREATED history row, creating the user on first sight, in one
   * statement. With an idempotency key, a retry returns the order the first call created; the same key with
   * different input is BAD_USER_INPUT, also when the two calls race.
   */
  async createOrder(ctx: ServiceContext, input: CreateOrderInput): Promise<Order> {
    const valid = validateCreateOrder(input);
    if (valid.idempotencyKey) {
      const existing = await this.findByIdempotencyKey(ctx, valid.idempotencyKey);
      if (existing) return this.replay(existing, valid);
    }
    try {
      return await this.insert(ctx, valid);
    } catch (err) {
      if (sqlState(err) === '23505' && valid.idempotencyKey) {
        const existing = await this.findByIdempotencyKey(ctx, valid.idempotencyKey);
        if (existing) return this.replay(existing, valid);
      }
      throw err;
    }
  }

  private replay(existing: Order, input: ValidOrderInput): Order {
    if (!sameRequest(existing, input)) {
      throw badInput('idempotencyKey was already used for an order with a different amount, subject or body', 'idempotencyKey');
    }
    return existing;
  }

  private async findByIdempotencyKey(ctx: ServiceContext, key: string): Promise<Order | null> {
    const { rows } = await this.db.query<FullOrderRowText>(`select ${ORDER_COLUMNS} from orders where user_id = $1 and idempotency_key = $2`, [ctx.user.id, key]);
    return rows[0] ? orderFromRow(rows[0]) : null;
  }

  private async insert(ctx: ServiceContext, input: ValidOrderInput): Promise<Order> {
    const now = new Date();
    const { rows } = await this.db.query<FullOrderRowText>(INSERT_ORDER_SQL, [
      ctx.user.id,
      now,
      randomUUID(),
      newOrderNo(now),
      input.subject,
      input.body,
      input.amount.toString(),
      new Date(now.getTime() + this.options.orderTtlMs),
      input.idempotencyKey,
    ]);
    return orderFromRow(rows[0]);
  }

  /** The caller's own order; anything else (a stranger's, unknown, malformed id) is NOT_FOUND. */
  findOwned(ctx: ServiceContext, id: string): Promise<Order> {
    return this.lookup(id, ctx.user.id);
  }

  /** The caller's own order, or any order for an admin. */
  findVisible(ctx: ServiceContext, id: string): Promise<Order> {
    return this.lookup(id, ctx.user.isAdmin ? null : ctx.user.id);
  }

  /** One order by id (plain SQL), limited to an owner unless `ownerId` is null. */
  private async lookup(id: string, ownerId: string | null): Promise<Order> {
    if (!UUID.test(id)) throw notFound('Order');
    const { rows } =
      ownerId === null
        ? await this.db.query<FullOrderRowText>(`select ${ORDER_COLUMNS} from orders where id = $1`, [id])
        : await this.db.query<FullOrderRowText>(`select ${ORDER_COLUMNS} from orders where id = $1 and user_id = $2`, [id, ownerId]);
    if (!rows[0]) throw notFound('Order');
    return orderFromRow(rows[0]);
  }

  /** The caller's orders, newest first, `first` (1–100, default 20) at a time after an opaque cursor. */
  async listOrders(
    ctx: ServiceContext,
    args: { first?: number | null; after?: string | null; status?: OrderStatus | null },
  ): Promise<OrderConnection> {
    const first = args.first ?? 20;
    if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput('first must be from 1 to 100', 'first');
    const where: FilterQuery<Order> = { user: ctx.user.id, ...(args.status ? { status: args.status } : {}) };
    if (args.after) {
      const { createdAt, id } = decodeCursor(args.after);
      where.$or = [{ createdAt: { $lt: createdAt } }, { createdAt, id: { $lt: id } }];
    }
    const rows = await ctx.em.find(Order, where, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: first + 1 });
    const page = rows.slice(0, first);
    const edges = page.map((node) => ({ cursor: encodeCursor(node), node }));
    return {
      edges,
      pageInfo: { hasNextPage: rows.length > first, endCursor: edges.length ? edges[edges.length - 1].cursor : null },
    };
  }

  /** The order's history, oldest first: status changes, refused moves, and the verified callbacks that named it. */
  async history(em: EntityManager, order: Order): Promise<HistoryEntry[]> {
    const [events, callbacks] = await Promise.all([
      em.find(OrderEvent, { order: order.id }, { orderBy: { createdAt: 'asc', id: 'asc' } }),
      em.find(
        CallbackLog,
        { order: order.id },
        { fields: ['id', 'kind', 'verdict', 'reason', 'tradeStatus', 'receivedAt'], orderBy: { receivedAt: 'asc', id: 'asc' } },
      ),
    ]);
    const entries: HistoryEntry[] = [
      ...events.map((e) => ({ ...pickEvent(e), id: `event:${e.id}` })),
      ...callbacks.map((c) => ({
        id: `callback:${c.id}`,
        type: OrderEventType.CALLBACK,
        fromStatus: null,
        toStatus: null,
        source: c.kind === 'NOTIFY' ? EventSource.NOTIFY : EventSource.RETURN,
        note: [c.tradeStatus, c.verdict, c.reason].filter(Boolean).join(' · '),
        createdAt: c.receivedAt,
      })),
    ];
    return entries.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }
}

function pickEvent(e: OrderEvent): HistoryEntry {
  return { id: e.id, type: e.type, fromStatus: e.fromStatus, toStatus: e.toStatus, source: e.source, note: e.note, createdAt: e.createdAt };
}

/** Cursors are opaque to clients: base64url of the row's creation time and id. */
export function encodeCursor(order: Pick<Order, 'createdAt' | 'id'>): string {
  return Buffer.from(`${order.createdAt.toISOString()}|${order.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const bad = () => badInput('after is not a cursor returned by this API', 'after');
  if (cursor.length > 128 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const [iso, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (extra !== undefined || !id || !UUID.test(id) || Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== iso) {
    throw bad();
  }
  return { createdAt, id };
}
