import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client as WsClient } from 'graphql-ws';
import { Client } from 'pg';
import WebSocket from 'ws';
import { issueToken } from '../../src/auth/token.service';
import { loadConfig, type Config } from '../../src/config';
import { freePort, startEmbeddedPostgres, type RunningPostgres } from '../../src/db/embedded-postgres';
import { migrateDatabase } from '../../src/db/orm';
import { newTradeNo, signedNotifyBody } from '../../src/sandbox/sandbox.callbacks';
import { spawnService, type ServiceProcess } from '../support/service-process';

/**
 * Database faults, for real: the service runs as its own process on a PostgreSQL of this test's own, and while
 * notifies and GraphQL requests flow, every backend of the service is terminated (pg_terminate_backend), then
 * PostgreSQL is stopped and started again. The process must stay up, say "unavailable" clearly meanwhile, and
 * recover by itself.
 */
jest.setTimeout(180_000);

const JWT_SECRET = 'outage-secret-0123456789abcdef-0123456789';
const DB = 'outage';

interface Sent {
  sentAt: number;
  orderNo: string;
  status: number;
  text: string;
}

describe('database faults never take the service down', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-test-outage-'));
  // Marks the folder as this live run's (globalSetup of another run removes test folders whose owner is gone).
  fs.writeFileSync(path.join(root, 'owner.pid'), String(process.pid));
  const dataDir = path.join(root, 'service');
  let pg: RunningPostgres;
  let service: ServiceProcess;
  let config: Config;
  let token: string;
  let ws: WsClient | null = null;
  const orders: Array<{ id: string; orderNo: string }> = [];
  /** Orders only the subscription tests pay (the traffic never touches them). */
  const watched: Array<{ id: string; orderNo: string }> = [];
  const sent: Sent[] = [];
  const gqlCodes: string[] = [];

  const admin = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const c = new Client({ connectionString: pg.url(DB) });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end();
    }
  };
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  };
  const notify = async (order: { orderNo: string }, tradeNo: string): Promise<Sent> => {
    const body = await signedNotifyBody(
      {
        appId: config.alipay.appId,
        sellerId: config.alipay.sellerId!,
        outTradeNo: order.orderNo,
        tradeNo,
        totalAmount: '1.00',
        tradeStatus: 'TRADE_SUCCESS',
        buyerId: '2088000000000002',
      },
      config.alipay.sandboxPrivateKey!,
    );
    const sentAt = Date.now();
    const res = await fetch(`${service.url}/alipay/notify`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body });
    const reply = { sentAt, orderNo: order.orderNo, status: res.status, text: await res.text() };
    sent.push(reply);
    return reply;
  };
  const tradeNos = new Map<string, string>();
  const tradeOf = (orderNo: string) => {
    if (!tradeNos.has(orderNo)) tradeNos.set(orderNo, newTradeNo());
    return tradeNos.get(orderNo)!;
  };

  /** Notifies (each order once, resent like Alipay when not `success`) and GraphQL reads, until stopped. */
  function traffic(): { stop(): Promise<void> } {
    let running = true;
    let next = 0;
    const pending: Array<{ orderNo: string }> = [];
    const loop = async () => {
      for (let i = 0; running && i < 5000; i++) {
        const order = pending.shift() ?? orders[next++ % orders.length];
        const reply = await notify(order, tradeOf(order.orderNo)).catch(() => null);
        if (!reply || reply.text !== 'success') pending.push(order);
        const read = await gql('{ me { id } }').catch(() => null);
        if (read?.errors) gqlCodes.push(read.errors[0].extensions?.code ?? 'none');
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const loops = Array.from({ length: 6 }, loop);
    return {
      async stop() {
        running = false;
        await Promise.all(loops);
      },
    };
  }

  /** How long after `since` the first notify sent then was answered success (probing until one is). */
  async function recovery(since: number): Promise<number> {
    const first = sent.find((r) => r.sentAt >= since && r.text === 'success');
    if (first) return first.sentAt - since;
    const probe = orders[orders.length - 1 - Math.floor(Math.random() * 20)];
    for (;;) {
      const reply = await notify(probe, tradeOf(probe.orderNo)).catch(() => null);
      if (reply?.text === 'success') return Date.now() - since;
      if (Date.now() - since > 60_000) throw new Error('the service did not recover within 60 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  function watch(orderId: string): { next(): Promise<string> } {
    ws ??= createClient({ url: `${service.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
    const iterator = ws.iterate<{ orderStatusChanged: { status: string } }>({ query: `subscription($id: ID!) { orderStatusChanged(orderId: $id) { status } }`, variables: { id: orderId } });
    return {
      async next() {
        const result = await iterator.next();
        if (result.done) throw new Error('subscription ended');
        return result.value.data?.orderStatusChanged.status ?? JSON.stringify(result.value.errors);
      },
    };
  }

  const terminateAll = () =>
    admin<{ n: string }>(
      `select count(*)::text as n from (select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()) t`,
      [DB],
    );

  beforeAll(async () => {
    pg = await startEmbeddedPostgres({ root: path.join(root, 'pg'), durable: false });
    const c = new Client({ connectionString: pg.url() });
    await c.connect();
    await c.query(`create database ${DB}`);
    await c.end();
    await migrateDatabase(pg.url(DB));
    const env = {
      NODE_ENV: 'test',
      DATABASE_URL: pg.url(DB),
      DATA_DIR: dataDir,
      JWT_SECRET,
      LOG_LEVEL: 'warn',
      DB_ACQUIRE_TIMEOUT_MS: '1000',
      DB_STATEMENT_TIMEOUT_MS: '3000',
      SANDBOX_TIME_SCALE: '0.001',
      JOBS_ENABLED: 'true',
    };
    // Generates the development keys the service will read (the local Alipay's key signs our notifies).
    config = loadConfig(env);
    service = await spawnService(env, await freePort());
    token = await issueToken(new TextEncoder().encode(JWT_SECRET), { sub: 'outage-user' }, { expiresIn: '1h' });
    for (let i = 0; i < 242; i++) {
      const res = await gql(`mutation { createOrder(input: { amount: "1.00", subject: "outage ${i}" }) { id orderNo } }`);
      (i < 2 ? watched : orders).push(res.data!.createOrder);
    }
  });

  afterAll(async () => {
    if (process.env.OUTAGE_LOG) fs.writeFileSync(process.env.OUTAGE_LOG, service.output());
    await Promise.resolve(ws?.dispose()).catch(() => undefined);
    await service?.stop().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    if (pg) fs.rmSync(pg.root, { recursive: true, force: true }); // it may have been relocated (as root)
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('stays up when every backend is terminated under load, recovers by itself, and subscriptions keep working', async () => {
    const subscribed = watched[0];
    const watcher = watch(subscribed.id);
    expect(await watcher.next()).toBe('WAIT_BUYER_PAY');
    const load = traffic();
    await new Promise((r) => setTimeout(r, 500));
    const at = Date.now();
    const terminated = Number((await terminateAll())[0].n);
    expect(terminated).toBeGreaterThan(2); // the SQL pool, the LISTEN connection, pg-boss, the ORM …
    await new Promise((r) => setTimeout(r, 1000));
    await load.stop();
    const recoveredMs = await recovery(at);
    expect(service.alive()).toBe(true);
    const failedAfter = sent.filter((r) => r.sentAt >= at && r.text !== 'success').length;
    process.stdout.write(`after pg_terminate_backend of ${terminated} backends: first notify success ${recoveredMs} ms later; ${failedAfter} notifies answered failure meanwhile\n`);

    // The LISTEN connection came back (with backoff) and LISTENs again: a change is pushed once more.
    const paid = notify(subscribed, tradeOf(subscribed.orderNo));
    const seen = await Promise.race([
      (async () => {
        for (;;) {
          const status = await watcher.next();
          if (status === 'TRADE_SUCCESS') return status;
        }
      })(),
      new Promise((r) => setTimeout(() => r('no event within 15 s'), 15_000)),
    ]);
    expect((await paid).text).toBe('success');
    expect(seen).toBe('TRADE_SUCCESS');
  });

  it('answers failure with a 5xx to notifies, DATABASE_UNAVAILABLE to GraphQL and 503 to /readyz while PostgreSQL is down, then recovers on its own', async () => {
    const subscribed = watched[1];
    const watcher = watch(subscribed.id);
    expect(await watcher.next()).toBe('WAIT_BUYER_PAY');
    const before = sent.length;
    const load = traffic();
    await new Promise((r) => setTimeout(r, 400));
    await pg.stop();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(503);
    const down = await gql(`mutation { createOrder(input: { amount: "1.00", subject: "while down" }) { id } }`);
    expect(down.errors![0].extensions!.code).toBe('DATABASE_UNAVAILABLE');
    expect(down.errors![0].message).toMatch(/database is unreachable/);
    pg = await startEmbeddedPostgres({ root: path.join(root, 'pg'), port: pg.port, durable: false });
    const restartedAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();
    const recoveredMs = await recovery(restartedAt);
    expect(service.alive()).toBe(true);
    process.stdout.write(`PostgreSQL down for ${restartedAt - downAt} ms: the service answered the next notify ${recoveredMs} ms after it was back\n`);

    const during = sent.slice(before);
    const failed = during.filter((r) => r.text !== 'success');
    expect(failed.length).toBeGreaterThan(0);
    for (const reply of failed) {
      expect(reply.text).toBe('failure');
      expect(reply.status).toBeGreaterThanOrEqual(500);
    }
    expect(gqlCodes).toContain('DATABASE_UNAVAILABLE');
    expect(gqlCodes.filter((c) => c !== 'DATABASE_UNAVAILABLE')).toEqual([]);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);

    // Subscriptions survive the restart too.
    const paid = await notify(subscribed, tradeOf(subscribed.orderNo));
    expect(paid.text).toBe('success');
    const seen = await Promise.race([
      (async () => {
        for (;;) if ((await watcher.next()) === 'TRADE_SUCCESS') return 'TRADE_SUCCESS';
      })(),
      new Promise((r) => setTimeout(() => r('no event within 15 s'), 15_000)),
    ]);
    expect(seen).toBe('TRADE_SUCCESS');
  });

  it('lost no payment and paid none twice: every notify answered success is a paid order with one status change', async () => {
    // Resend what was not acknowledged, as Alipay would.
    const acknowledged = new Set(sent.filter((r) => r.text === 'success').map((r) => r.orderNo));
    for (const orderNo of new Set(sent.map((r) => r.orderNo))) {
      if (!acknowledged.has(orderNo)) expect((await notify({ orderNo }, tradeOf(orderNo))).text).toBe('success');
    }
    const rows = await admin<{ order_no: string; status: string; changes: string }>(
      `select o.order_no, o.status, (select count(*)::text from order_events e where e.order_id = o.id and e.type = 'STATUS_CHANGED') as changes from orders o`,
    );
    const byNo = new Map(rows.map((r) => [r.order_no, r]));
    for (const orderNo of new Set(sent.map((r) => r.orderNo))) {
      expect(byNo.get(orderNo)).toMatchObject({ status: 'TRADE_SUCCESS', changes: '1' });
    }
    for (const row of rows) expect(Number(row.changes)).toBeLessThanOrEqual(1);
    expect(service.alive()).toBe(true);
    expect(service.output()).not.toMatch(/Unhandled 'error' event|uncaughtException|UnhandledPromiseRejection|fatal:/);
    // Hundreds of requests failed during the outages; the log says so in a few lines, not one per request.
    const lines = service.output().split('\n').filter((l) => l.startsWith('{'));
    expect(sent.filter((r) => r.text !== 'success').length + gqlCodes.length).toBeGreaterThan(50);
    expect(lines.length).toBeLessThan(100);
  });
});
