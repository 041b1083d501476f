import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { migrationsList } from '../../src/db/migrations';
import { newTradeNo, signedNotifyBody } from '../../src/sandbox/sandbox.callbacks';
import { waitFor } from '../support/buyer';
import { createTestDatabase, query, type TestDatabase } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

/**
 * Two instances of the service on one PostgreSQL, as a rollout or a scaled deployment runs them: they start at
 * once on an empty database, and share subscriptions, idempotency, jobs and notifies through PostgreSQL alone.
 */
jest.setTimeout(60_000);

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;

describe('two instances on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    // Both boot at the same moment on the empty database: both migrate (under the advisory lock) and come up.
    [a, b] = await Promise.all(
      [0, 1].map(() => startTestServer({ JOBS_ENABLED: 'true' }, { database: db, migrate: true })),
    );
    tokenA = await a.token('twin');
    tokenB = await b.token('twin');
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const notify = (server: TestServer, order: { orderNo: string; amount: string }, tradeNo: string, notifyId?: string) =>
    signedNotifyBody(
      {
        appId: server.config.alipay.appId,
        sellerId: server.config.alipay.sellerId!,
        outTradeNo: order.orderNo,
        tradeNo,
        totalAmount: order.amount,
        tradeStatus: 'TRADE_SUCCESS',
        buyerId: '2088000000000002',
        notifyId,
      },
      server.alipayKey,
    ).then((body) => server.notify(body));

  it('both came up on an empty database, and each migration was applied exactly once', async () => {
    const applied = await query<{ name: string; n: string }>(db.url, 'select name, count(*)::text as n from mikro_orm_migrations group by name order by name');
    expect(applied).toEqual(migrationsList.map((m) => ({ name: m.name, n: '1' })).sort((x, y) => x.name.localeCompare(y.name)));
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${b.url}/readyz`)).status).toBe(200);
  });

  it('pushes a payment notified to one instance to a subscription held on the other', async () => {
    const order = (await a.gql(CREATE, { input: { amount: '5.00', subject: 'seen across' } }, tokenA)).data!.createOrder;
    const client = createClient({ url: `${a.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${tokenA}` }, retryAttempts: 0 });
    try {
      const iterator = client.iterate<{ orderStatusChanged: { status: string } }>({
        query: `subscription($id: ID!) { orderStatusChanged(orderId: $id) { status } }`,
        variables: { id: order.id },
      });
      expect((await iterator.next()).value).toEqual({ data: { orderStatusChanged: { status: 'WAIT_BUYER_PAY' } } });
      expect((await notify(b, order, newTradeNo())).text).toBe('success');
      const next = await Promise.race([iterator.next(), new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
      expect(next).toEqual({ done: false, value: { data: { orderStatusChanged: { status: 'TRADE_SUCCESS' } } } });
    } finally {
      await client.dispose();
    }
  });

  it('gives one order to an idempotency key raced across both instances', async () => {
    const input = { amount: '12.00', subject: 'raced', idempotencyKey: 'cart-2718' };
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a.gql(CREATE, { input }, tokenA) : b.gql(CREATE, { input }, tokenB))),
    );
    const ids = new Set(answers.map((r) => r.data?.createOrder.id ?? JSON.stringify(r.errors)));
    expect(ids.size).toBe(1);
    const rows = await query(db.url, `select id from orders where user_id = 'twin' and idempotency_key = 'cart-2718'`);
    expect(rows).toHaveLength(1);
  });

  it('pays each order exactly once under a notify storm split across both instances', async () => {
    const orders = await Promise.all(
      Array.from({ length: 30 }, (_, i) => a.gql(CREATE, { input: { amount: '3.00', subject: `storm ${i}` } }, tokenA).then((r) => r.data!.createOrder)),
    );
    const sends: Array<Promise<{ text: string }>> = [];
    for (const order of orders) {
      const tradeNo = newTradeNo();
      // Alipay's resends (one notify_id, several times) and its separate notifies of the same payment.
      for (let copy = 0; copy < 6; copy++) sends.push(notify(copy % 2 ? a : b, order, tradeNo, copy < 3 ? `NID-${order.orderNo}` : undefined));
    }
    const replies = await Promise.all(sends);
    expect(replies.every((r) => r.text === 'success')).toBe(true);
    const changes = await query<{ order_no: string; n: string }>(
      db.url,
      `select o.order_no, (select count(*)::text from order_events e where e.order_id = o.id and e.type = 'STATUS_CHANGED') as n
       from orders o where o.order_no = any($1) and o.status = 'TRADE_SUCCESS'`,
      [orders.map((o) => o.orderNo)],
    );
    expect(changes).toHaveLength(30);
    expect(changes.every((c) => c.n === '1')).toBe(true);
    const applied = await query<{ n: string }>(
      db.url,
      `select count(*)::text as n from callback_logs where out_trade_no = any($1) and verdict = 'APPLIED'`,
      [orders.map((o) => o.orderNo)],
    );
    expect(applied[0].n).toBe('30');
  });

  it('runs the maintenance jobs once across both: never two runs at a time, and each expired order closed once', async () => {
    const orders = await Promise.all(
      Array.from({ length: 8 }, (_, i) => b.gql(CREATE, { input: { amount: '2.00', subject: `expiring ${i}` } }, tokenB).then((r) => r.data!.createOrder)),
    );
    await query(db.url, `update orders set expires_at = now() - interval '1 minute' where order_no = any($1)`, [orders.map((o) => o.orderNo)]);
    await Promise.all([a.app.jobs!.trigger(), b.app.jobs!.trigger(), a.app.jobs!.trigger(), b.app.jobs!.trigger()]);
    await waitFor(
      'every expired order closed',
      async () => {
        const rows = await query(db.url, `select 1 from orders where order_no = any($1) and status = 'TRADE_CLOSED'`, [orders.map((o) => o.orderNo)]);
        return rows.length === orders.length;
      },
      30_000,
    );
    const closes = await query<{ n: string }>(
      db.url,
      `select count(*)::text as n from order_events e join orders o on o.id = e.order_id
       where o.order_no = any($1) and e.type = 'STATUS_CHANGED' and e.to_status = 'TRADE_CLOSED'`,
      [orders.map((o) => o.orderNo)],
    );
    expect(closes[0].n).toBe(String(orders.length));
    const runs = await query<{ started_on: Date; completed_on: Date | null }>(
      db.url,
      `select started_on, completed_on from pgboss.job where name = 'orders-maintenance' and started_on is not null order by started_on`,
    );
    expect(runs.length).toBeGreaterThan(0);
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i - 1].completed_on).not.toBeNull();
      expect(runs[i].started_on.getTime()).toBeGreaterThanOrEqual(runs[i - 1].completed_on!.getTime());
    }
  });
});
