import { randomInt, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { beijingTime } from '../alipay/alipay.time';
import type { ServiceContext } from '../common/context';
import { badInput, forbidden, notFound } from '../common/errors';
import { filterEnum, filterText, filterTimeRange, SqlFilter, type Sql } from '../common/filter';
import { connection, decodeCursor, pageSize, withTotalCount } from '../common/page';
import { textProblem, UUID } from '../common/text';
import { prepared, sqlState, type SqlExecutor } from '../db/sql';
import { ORDER_COLUMNS, readOrder, toOrderRecord, type OrderRecord, type OrderRowText } from './order.row';
import type { AdminOrderConnection, OrderConnection } from './order.connection';
import { validateCreateOrder, type CreateOrderInput, type ValidOrderInput } from './order.inputs';
import { OrderStatus } from './order.types';
import { LRUCache } from 'lru-cache';


/** A new out_trade_no: the Beijing date and 16 random digits, e.g. 2026112548213371906624517. */
export function newOrderNo(at: Date): string {
  const date = beijingTime(at).slice(0, 10).replace(/-/g, '');
  const digits = `${randomInt(0, 1e8)}`.padStart(8, '0') + `${randomInt(0, 1e8)}`.padStart(8, '0');
  return `${date}${digits}`;
}

function sameRequest(order: OrderRecord, input: ValidOrderInput): boolean {
  return order.amount.equals(input.amount) && order.subject === input.subject && order.body === input.body;
}

const NEW_ORDER_SQL = `
  new_order as (
    insert into orders (id, order_no, user_id, subject, body, amount, status, refunded_amount, expires_at, idempotency_key, created_at, updated_at)
    values ($3, $4, $1, $5, $6, $7, 'WAIT_BUYER_PAY', 0, $8, $9, $2, $2)
    returning ${ORDER_COLUMNS}),
  history as (
    insert into order_events (order_id, type, to_status, source, created_at)
    select id, 'CREATED', 'WAIT_BUYER_PAY', 'API', $2 from new_order)
  select * from new_order`;

/** A new order with its CREATED history row, and the caller's user row if it is not there yet. */
const INSERT_ORDER_SQL = `
  with new_user as (insert into users (id, created_at) values ($1, $2) on conflict (id) do nothing),
  ${NEW_ORDER_SQL}`;

/** The same for a caller whose user row this process has seen (no upsert: one index probe and row lock fewer). */
const INSERT_ORDER_KNOWN_USER_SQL = `
  with ${NEW_ORDER_SQL}`;

/** What an admin may filter every order by; each given field narrows the list (all of them together). */
export interface AdminOrderFilterInput {
  orderNo?: string | null;
  status?: OrderStatus | null;
  userId?: string | null;
  /** Created at or after this instant. */
  createdAfter?: Date | null;
  /** Created before this instant. */
  createdBefore?: Date | null;
}

/**
 * The SQL of one adminOrders page and of its totalCount, after checking the filter (BAD_USER_INPUT before any SQL).
 * Every filter and every combination of them has an index that serves the first page in (created_at, id) order:
 * orders_order_no_unique, orders_status_created_idx, orders_user_created_idx, orders_created_idx (the time range
 * alone). test/integration/admin-view-plans.test.ts runs EXPLAIN on what this returns.
 */
export function adminOrdersSql(
  filter: AdminOrderFilterInput,
  firstArg: number | null | undefined,
  after: string | null | undefined,
): { first: number; page: Sql; count: Sql } {
  const first = pageSize(firstArg);
  const orderNo = filterText(filter.orderNo, 'orderNo', 64);
  const status = filterEnum(filter.status, OrderStatus, 'status');
  const userId = filterText(filter.userId, 'userId', 128);
  const created = filterTimeRange(filter.createdAfter, filter.createdBefore, { from: 'createdAfter', until: 'createdBefore' });
  const cursor = after ? decodeCursor(after) : null;
  const where = new SqlFilter()
    .add('order_no = $?', orderNo)
    .add('status = $?', status)
    .add('user_id = $?', userId)
    .add('created_at >= $?', created.from)
    .add('created_at < $?', created.until);
  return {
    first,
    page: where.page(`select ${ORDER_COLUMNS} from orders`, { time: 'created_at', id: 'id' }, cursor, first),
    count: where.count('orders'),
  };
}

/**
 * Orders: creating them and reading them. Everything here is plain SQL returning plain `OrderRecord`s; the
 * changes after creation (paid, closed, refunded) are made by the payments services under the order's row lock
 * (`lockOrder`) through the one transition function.
 */
export class OrderService {
  private readonly db: SqlExecutor;

  /** Users whose row this process has seen exist (bounded): their orders skip the user upsert. */
  private readonly knownUsers = new LRUCache<string, true>({ max: 10_000 });

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
  async createOrder(ctx: ServiceContext, input: CreateOrderInput): Promise<OrderRecord> {
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

  private replay(existing: OrderRecord, input: ValidOrderInput): OrderRecord {
    if (!sameRequest(existing, input)) {
      throw badInput('idempotencyKey was already used for an order with a different amount, subject or body', 'idempotencyKey');
    }
    return existing;
  }

  private async findByIdempotencyKey(ctx: ServiceContext, key: string): Promise<OrderRecord | null> {
    const { rows } = await this.db.query<OrderRowText>(`select ${ORDER_COLUMNS} from orders where user_id = $1 and idempotency_key = $2`, [ctx.user.id, key]);
    return rows[0] ? toOrderRecord(rows[0]) : null;
  }

  private async insert(ctx: ServiceContext, input: ValidOrderInput): Promise<OrderRecord> {
    const known = this.knownUsers.has(ctx.user.id);
    try {
      const order = await this.insertAs(known ? INSERT_ORDER_KNOWN_USER_SQL : INSERT_ORDER_SQL, ctx, input);
      this.knownUsers.set(ctx.user.id, true);
      return order;
    } catch (err) {
      // A user row this process remembered is gone (a restored backup, a hand edit): insert it with the order.
      if (known && sqlState(err) === '23503') {
        this.knownUsers.delete(ctx.user.id);
        return this.insertAs(INSERT_ORDER_SQL, ctx, input);
      }
      throw err;
    }
  }

  private async insertAs(sql: string, ctx: ServiceContext, input: ValidOrderInput): Promise<OrderRecord> {
    const now = new Date();
    const { rows } = await this.db.query<OrderRowText>(sql, [
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
    const order = toOrderRecord(rows[0]);
    this.db.emit({ type: 'order.created', orderId: order.id, orderNo: order.orderNo, amount: order.amount.toString(), userId: order.userId, expiresAt: order.expiresAt.toISOString() });
    return order;
  }

  /** The caller's own order; anything else (a stranger's, unknown, malformed id) is NOT_FOUND. */
  async findOwned(ctx: ServiceContext, id: string): Promise<OrderRecord> {
    const order = await readOrder(this.db, { id });
    if (!order || order.userId !== ctx.user.id) throw notFound('Order');
    return order;
  }

  /** The caller's own order, or any order for an admin. */
  async findVisible(ctx: ServiceContext, id: string): Promise<OrderRecord> {
    return visible(ctx, await readOrder(this.db, { id }));
  }

  /**
   * The caller's own order by its number (out_trade_no), or any order for an admin. Anything else is NOT_FOUND,
   * the same answer for a stranger's order as for one that does not exist; a number no order can have (too long,
   * control characters) is NOT_FOUND too, without a query, as a malformed id is.
   */
  async findVisibleByNo(ctx: ServiceContext, orderNo: string): Promise<OrderRecord> {
    if (textProblem(orderNo, 1, 64)) throw notFound('Order');
    return visible(ctx, await readOrder(this.db, { orderNo }));
  }

  /** An order by id as it is now, whoever owns it (for answers after a change, and subscriptions). */
  async byId(id: string): Promise<OrderRecord | null> {
    return readOrder(this.db, { id });
  }

  /** Orders by id, whoever owns them, in the order of `ids` (for per-request batching; malformed ids are null). */
  async byIds(ids: readonly string[]): Promise<Array<OrderRecord | null>> {
    const valid = ids.filter((id) => UUID.test(id));
    const { rows } = valid.length
      ? await this.db.query<OrderRowText>(`select ${ORDER_COLUMNS} from orders where id = any($1::uuid[])`, [valid])
      : { rows: [] as OrderRowText[] };
    const byId = new Map(rows.map((r) => [r.id, toOrderRecord(r)]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /** The caller's orders, newest first, `first` (1–100, default 20) at a time after an opaque cursor. */
  async listOrders(
    ctx: ServiceContext,
    args: { first?: number | null; after?: string | null; status?: OrderStatus | null },
  ): Promise<OrderConnection> {
    const first = pageSize(args.first);
    const page = new SqlFilter()
      .add('user_id = $?', ctx.user.id)
      .add('status = $?', args.status || null)
      .page(`select ${ORDER_COLUMNS} from orders`, { time: 'created_at', id: 'id' }, args.after ? decodeCursor(args.after) : null, first);
    const { rows } = await this.db.query<OrderRowText>(page.text, page.params);
    return connection(rows.map(toOrderRecord), first);
  }

  /**
   * Every order, newest first, `first` (1–100, default 20) at a time after an opaque cursor, narrowed by the
   * filter (admin only; GraphQL's permissions say so too). `totalCount` counts every order the filter matches,
   * with the same WHERE on the same indexes, only when a client asks for it.
   */
  async adminOrders(
    ctx: ServiceContext,
    filter: AdminOrderFilterInput,
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<AdminOrderConnection> {
    if (!ctx.user.isAdmin) throw forbidden('Admins only');
    const sql = adminOrdersSql(filter, first, after);
    const { rows } = await this.db.query<OrderRowText>(sql.page.text, sql.page.params);
    return withTotalCount(connection(rows.map(toOrderRecord), sql.first), async () => {
      const { rows: counted } = await this.db.query<{ n: number }>(sql.count.text, sql.count.params);
      return counted[0].n;
    });
  }
}

/** The order when the caller may see it (their own, or any for an admin); NOT_FOUND otherwise, as for no order. */
function visible(ctx: ServiceContext, order: OrderRecord | null): OrderRecord {
  if (!order || (order.userId !== ctx.user.id && !ctx.user.isAdmin)) throw notFound('Order');
  return order;
}
