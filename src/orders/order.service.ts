import { randomInt, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException, type FilterQuery } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { beijingTime } from '../alipay/alipay.time';
import { User } from '../auth/user.entity';
import type { ServiceContext } from '../common/context';
import { badInput, notFound } from '../common/errors';
import { CallbackLog } from '../payments/callback-log.entity';
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

export class OrderService {
  constructor(private readonly options: { orderTtlMs: number }) {}

  /**
   * Creates an order in WAIT_BUYER_PAY with its CREATED history row, creating the user on first sight. With an
   * idempotency key, a retry returns the order the first call created; the same key with different input is
   * BAD_USER_INPUT, also when the two calls race.
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
      if (err instanceof UniqueConstraintViolationException && valid.idempotencyKey) {
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

  private findByIdempotencyKey(ctx: ServiceContext, key: string): Promise<Order | null> {
    return ctx.em.fork().findOne(Order, { user: ctx.user.id, idempotencyKey: key });
  }

  private async insert(ctx: ServiceContext, input: ValidOrderInput): Promise<Order> {
    const now = new Date();
    return ctx.em.fork().transactional(async (tx: EntityManager) => {
      await tx.createQueryBuilder(User).insert({ id: ctx.user.id, createdAt: now }).onConflict('id').ignore().execute();
      const order = tx.create(Order, {
        id: randomUUID(),
        orderNo: newOrderNo(now),
        user: tx.getReference(User, ctx.user.id),
        subject: input.subject,
        body: input.body,
        amount: input.amount,
        expiresAt: new Date(now.getTime() + this.options.orderTtlMs),
        idempotencyKey: input.idempotencyKey,
        createdAt: now,
        updatedAt: now,
      });
      tx.create(OrderEvent, {
        order,
        type: OrderEventType.CREATED,
        toStatus: OrderStatus.WAIT_BUYER_PAY,
        source: EventSource.API,
        createdAt: now,
      });
      return order;
    });
  }

  /** The caller's own order; anything else (a stranger's, unknown, malformed id) is NOT_FOUND. */
  async findOwned(ctx: ServiceContext, id: string): Promise<Order> {
    const order = UUID.test(id) ? await ctx.em.findOne(Order, { id, user: ctx.user.id }) : null;
    if (!order) throw notFound('Order');
    return order;
  }

  /** The caller's own order, or any order for an admin. */
  async findVisible(ctx: ServiceContext, id: string): Promise<Order> {
    if (!ctx.user.isAdmin) return this.findOwned(ctx, id);
    const order = UUID.test(id) ? await ctx.em.findOne(Order, { id }) : null;
    if (!order) throw notFound('Order');
    return order;
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
