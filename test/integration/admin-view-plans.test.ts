import 'reflect-metadata';
import { Client } from 'pg';
import type { Sql } from '../../src/common/filter';
import { encodeCursor } from '../../src/common/page';
import { adminOrdersSql, type AdminOrderFilterInput } from '../../src/orders/order.service';
import { OrderStatus } from '../../src/orders/order.types';
import { CallbackKind, CallbackVerdict } from '../../src/payments/callback-log.entity';
import { callbacksSql, type CallbackFilterInput } from '../../src/payments/callback-log.row';
import { RefundStatus } from '../../src/payments/refund.entity';
import { refundsSql, type RefundFilterInput } from '../../src/payments/refund.row';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * The admin lists on a database of realistic size: 100,000 orders (1,000 users, four statuses, one a minute),
 * 120,000 callbacks and 20,000 refunds. For every combination of every filter, the statement the service itself
 * builds (adminOrdersSql, callbacksSql, refundsSql) is planned by PostgreSQL with its parameters (the custom plan)
 * and without them (the generic plan a prepared statement may switch to): neither may read a table sequentially.
 */

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const MINUTE = 60_000;
const at = (minutes: number) => new Date(T0 + minutes * MINUTE);

/** Every subset of `fields`, the empty one included. */
function subsets<K extends string>(fields: readonly K[]): K[][] {
  return fields.reduce<K[][]>((all, field) => all.concat(all.map((s) => [...s, field])), [[]]);
}

function pick<F extends object>(values: F, fields: Array<keyof F>): F {
  return Object.fromEntries(fields.map((f) => [f, values[f]])) as F;
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

const describeFilter = (filter: object) => JSON.stringify(filter, (_k, v) => (v instanceof Date ? v.toISOString() : v));

describe('the admin lists answer the first page of every filter from an index, not a sequential scan', () => {
  let db: TestDatabase;
  let client: Client;
  const seen = new Map<string, Set<string>>();

  /** The custom plan (with these parameters) and the generic plan (any parameters) of one statement. */
  async function plans(sql: Sql): Promise<PlanNode[][]> {
    const custom = await client.query(`explain (format json) ${sql.text}`, sql.params);
    const generic = await client.query(`explain (generic_plan, format json) ${sql.text}`);
    return [custom, generic].map((r) => nodes(r.rows[0]['QUERY PLAN'][0].Plan as PlanNode));
  }

  /**
   * Asserts that no plan of `sql` scans a table sequentially and that `table` is read through an index; with
   * `inIndexOrder`, also that the rows come in the index's order (no sort: the page stops after `first + 1` rows).
   */
  async function expectIndexed(sql: Sql, table: string, label: string, inIndexOrder = false): Promise<void> {
    for (const plan of await plans(sql)) {
      if (inIndexOrder) {
        const sorts = plan.filter((n) => n['Node Type'].endsWith('Sort')).map((n) => n['Node Type']);
        expect({ label, sorts }).toEqual({ label, sorts: [] });
      }
      const seqScans = plan.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name']);
      expect({ label, seqScans }).toEqual({ label, seqScans: [] });
      const viaIndex = plan.some(
        (n) => n['Relation Name'] === table && ['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan'].includes(n['Node Type']),
      );
      expect({ label, viaIndex }).toEqual({ label, viaIndex: true });
      const kinds = seen.get(table) ?? new Set<string>();
      for (const n of plan) if (n['Relation Name'] === table || n['Index Name']) kinds.add(`${n['Node Type']}${n['Index Name'] ? ` ${n['Index Name']}` : ''}`);
      seen.set(table, kinds);
    }
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new Client({ connectionString: db.url });
    await client.connect();
    await client.query(`insert into users (id, created_at) select 'user' || g, $1 from generate_series(1, 1000) g`, [at(0)]);
    // One order a minute; statuses 70% closed, 19% paid, 10% unpaid, 1% finished.
    await client.query(
      `insert into orders (id, order_no, user_id, subject, amount, status, refunded_amount, expires_at, created_at, updated_at)
       select gen_random_uuid(), 'N' || lpad(g::text, 12, '0'), 'user' || (g % 1000 + 1), 'tea', 10.00,
         case when g % 100 = 0 then 'TRADE_FINISHED' when g % 10 in (1, 2) then 'TRADE_SUCCESS' when g % 10 = 3 then 'WAIT_BUYER_PAY'
              when g % 100 = 4 then 'TRADE_SUCCESS' else 'TRADE_CLOSED' end,
         0, $1::timestamptz + g * interval '1 minute' + interval '15 minutes', $1::timestamptz + g * interval '1 minute', $1::timestamptz + g * interval '1 minute'
       from generate_series(1, 100000) g`,
      [at(0)],
    );
    // A notify for every order, a browser return for every fifth; verdicts mostly APPLIED, a few of each other.
    await client.query(
      `insert into callback_logs (kind, raw, verdict, reason, signature_valid, order_id, notify_id, out_trade_no, trade_status, remote_address, received_at, raw_length)
       select kind, '\\x00'::bytea,
         case when n % 100 < 60 then 'APPLIED' when n % 100 < 80 then 'DUPLICATE' when n % 100 < 90 then 'IGNORED'
              when n % 100 < 98 then 'REJECTED' when n % 100 < 99 then 'REFUSED' else 'ERROR' end,
         null, n % 100 not between 90 and 97, o.id, 'notify' || n, o.order_no, 'TRADE_SUCCESS', '127.0.0.1', o.created_at + interval '30 seconds', 1
       from (select o.*, row_number() over (order by created_at) as n from orders o) o
       cross join lateral (select 'NOTIFY' as kind union all select 'RETURN' where o.n % 5 = 0) k`,
    );
    // 20,000 refunds: 90% succeeded, 8% failed, 2% pending.
    await client.query(
      `insert into refunds (id, order_id, out_request_no, amount, status, requested_by, created_at, updated_at)
       select gen_random_uuid(), o.id, o.order_no || 'R', 1.00,
         case when n % 50 = 0 then 'PENDING' when n % 50 < 5 then 'FAILED' else 'SUCCEEDED' end, 'ops', o.created_at + interval '1 hour', o.created_at + interval '1 hour'
       from (select o.*, row_number() over (order by created_at) as n from orders o where status in ('TRADE_SUCCESS', 'TRADE_FINISHED')) o
       where n <= 20000`,
    );
    await client.query('vacuum analyze users, orders, callback_logs, refunds');
  }, 120_000);

  afterAll(async () => {
    await client?.end();
    await db?.drop();
    // What the plans were made of, for whoever reads the test output.
    for (const [table, kinds] of seen) process.stdout.write(`${table}: ${[...kinds].sort().join(', ')}\n`);
  });

  it('holds the data it says it does', async () => {
    const { rows } = await client.query(
      `select (select count(*)::int from orders) as orders, (select count(*)::int from callback_logs) as callbacks, (select count(*)::int from refunds) as refunds`,
    );
    expect(rows[0]).toEqual({ orders: 100_000, callbacks: 120_000, refunds: 20_000 });
  });

  it('plans every adminOrders filter combination, first and later pages, from indexes on orders', async () => {
    const values: Required<{ [K in keyof AdminOrderFilterInput]: NonNullable<AdminOrderFilterInput[K]> }> = {
      orderNo: 'N000000054321',
      status: OrderStatus.TRADE_SUCCESS,
      userId: 'user17',
      createdAfter: at(40_000),
      createdBefore: at(60_000),
    };
    const cursor = encodeCursor({ createdAt: at(50_000), id: '00000000-0000-4000-8000-000000000000' });
    const combinations = subsets(Object.keys(values) as Array<keyof AdminOrderFilterInput>);
    expect(combinations).toHaveLength(32);
    for (const fields of combinations) {
      const filter = pick(values, fields);
      for (const after of [null, cursor]) {
        // Unfiltered, by time, by status, by owner: the newest rows straight from an index, in its order.
        const ordered = fields.every((f) => f === 'createdAfter' || f === 'createdBefore') || (fields.length === 1 && fields[0] !== 'orderNo');
        await expectIndexed(adminOrdersSql(filter, 20, after).page, 'orders', `adminOrders ${describeFilter(filter)} after=${after}`, ordered);
      }
      // A count is as selective as its filter: by order number or by owner it is read from an index too.
      if (filter.orderNo || filter.userId) await expectIndexed(adminOrdersSql(filter, 20, null).count, 'orders', `count ${describeFilter(filter)}`);
    }
    // The rarest and the commonest status, alone: either way the newest 100 come from an index.
    for (const status of Object.values(OrderStatus)) await expectIndexed(adminOrdersSql({ status }, 100, null).page, 'orders', `status ${status}`, true);
  });

  it('plans every callbacks filter combination, first and later pages, from indexes on callback_logs', async () => {
    const values: Required<{ [K in keyof CallbackFilterInput]: NonNullable<CallbackFilterInput[K]> }> = {
      orderNo: 'N000000054320',
      kind: CallbackKind.RETURN,
      verdict: CallbackVerdict.REJECTED,
      receivedAfter: at(40_000),
      receivedBefore: at(60_000),
    };
    const cursor = encodeCursor({ createdAt: at(50_000), id: '60000' });
    const combinations = subsets(Object.keys(values) as Array<keyof CallbackFilterInput>);
    expect(combinations).toHaveLength(32);
    for (const fields of combinations) {
      const filter = pick(values, fields);
      for (const after of [null, cursor]) {
        const ordered = fields.every((f) => f === 'receivedAfter' || f === 'receivedBefore') || fields.length === 1;
        await expectIndexed(callbacksSql(filter, 20, after).page, 'callback_logs', `callbacks ${describeFilter(filter)} after=${after}`, ordered);
      }
      if (filter.orderNo) await expectIndexed(callbacksSql(filter, 20, null).count, 'callback_logs', `count ${describeFilter(filter)}`);
    }
    for (const verdict of Object.values(CallbackVerdict)) {
      for (const kind of Object.values(CallbackKind)) {
        await expectIndexed(callbacksSql({ verdict, kind }, 100, null).page, 'callback_logs', `verdict ${verdict} kind ${kind}`);
        await expectIndexed(callbacksSql({ verdict }, 100, null).page, 'callback_logs', `verdict ${verdict}`, true);
      }
    }
  });

  it('plans every refunds filter combination, first and later pages, from indexes on refunds (and orders for the number)', async () => {
    const values: Required<{ [K in keyof RefundFilterInput]: NonNullable<RefundFilterInput[K]> }> = {
      status: RefundStatus.FAILED,
      orderNo: 'N000000054321',
    };
    const cursor = encodeCursor({ createdAt: at(50_000), id: '00000000-0000-4000-8000-000000000000' });
    for (const fields of subsets(Object.keys(values) as Array<keyof RefundFilterInput>)) {
      const filter = pick(values, fields);
      for (const after of [null, cursor]) {
        // An order's few refunds may be sorted; every refund, or those in one status, come in index order.
        await expectIndexed(refundsSql(filter, 20, after).page, 'refunds', `refunds ${describeFilter(filter)} after=${after}`, !filter.orderNo);
      }
      if (filter.orderNo) await expectIndexed(refundsSql(filter, 20, null).count, 'refunds', `count ${describeFilter(filter)}`);
    }
    for (const status of Object.values(RefundStatus)) await expectIndexed(refundsSql({ status }, 100, null).page, 'refunds', `status ${status}`, true);
  });

  it('would notice an unindexed list: without its index the unfiltered first page is a sequential scan', async () => {
    // The check above is only worth something if it can fail: drop the index the unfiltered list uses (in a
    // transaction that is rolled back) and the same statement is planned as a sequential scan of orders.
    await client.query('begin');
    try {
      await client.query('drop index orders_created_idx');
      const [custom] = await plans(adminOrdersSql({}, 20, null).page);
      expect(custom.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name'])).toEqual(['orders']);
    } finally {
      await client.query('rollback');
    }
    const [custom] = await plans(adminOrdersSql({}, 20, null).page);
    expect(custom.some((n) => n['Index Name'] === 'orders_created_idx')).toBe(true);
  });
});
