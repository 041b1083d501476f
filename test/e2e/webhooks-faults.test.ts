import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { issueToken } from '../../src/auth/token.service';
import { freePort } from '../../src/db/embedded-postgres';
import { waitFor } from '../support/buyer';
import { createTestDatabase, query, type TestDatabase } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';
import { spawnService, type ServiceProcess } from '../support/service-process';
import { newWebhookSecret, WebhookReceiver } from '../support/webhook-receiver';

jest.setTimeout(90_000);

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo } }`;
const CLOSE = `mutation($id: ID!) { closeOrder(orderId: $id) { status } }`;

describe('a webhook survives the service being killed between the commit and the delivery', () => {
  const JWT_SECRET = 'webhook-crash-secret-0123456789abcdef';
  let db: TestDatabase;
  let receiver: WebhookReceiver;
  let service: ServiceProcess | null = null;
  let dataDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await WebhookReceiver.start(newWebhookSecret());
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-webhook-crash-'));
  });
  afterAll(async () => {
    await service?.stop().catch(() => undefined);
    await receiver?.close();
    await db?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const env = () => ({
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    DATA_DIR: dataDir,
    JWT_SECRET,
    LOG_LEVEL: 'warn',
    JOBS_ENABLED: 'false',
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: receiver.secret,
    WEBHOOK_TIMEOUT_MS: '1500',
    WEBHOOK_TIME_SCALE: '0.001',
  });

  it('kill -9 while the first attempt is in flight: after a restart the event is delivered, with the same webhook-id', async () => {
    receiver.answer = () => 'hang';
    service = await spawnService(env(), await freePort());
    const token = await issueToken(new TextEncoder().encode(JWT_SECRET), { sub: 'crash-user' }, { expiresIn: '1h' });
    const gql = async (q: string, variables: Record<string, unknown>) =>
      (await (await fetch(`${service!.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: q, variables }) })).json()) as any;
    const order = (await gql(CREATE, { input: { amount: '3.00', subject: 'crash' } })).data.createOrder;
    expect((await gql(CLOSE, { id: order.id })).data.closeOrder.status).toBe('TRADE_CLOSED');
    const first = await waitFor('the first attempt to reach the receiver', async () => receiver.ofType('order.closed')[0]);

    service.child.kill('SIGKILL');
    await waitFor('the process to die', async () => !service!.alive());
    const [pending] = await query<{ status: string; attempts: number; recorded: number }>(
      db.url,
      `select status, attempts, (select count(*)::int from webhook_attempts a where a.delivery_id = d.id) as recorded from webhook_deliveries d where event_id = $1`,
      [first.id],
    );
    expect(pending).toEqual({ status: 'PENDING', attempts: 1, recorded: 0 });

    receiver.answer = () => 204;
    service = await spawnService(env(), await freePort());
    const again = await waitFor('the redelivery after the restart', async () => receiver.ofType('order.closed').filter((r) => r.id === first.id)[1], 20_000);
    expect(again.verified!.data.order.orderNo).toBe(order.orderNo);
    await waitFor('DELIVERED', async () => {
      const [row] = await query<{ status: string }>(db.url, `select status from webhook_deliveries where event_id = $1`, [first.id]);
      return row.status === 'DELIVERED';
    });
    expect(receiver.received.filter((r) => r.id === first.id)).toHaveLength(2);
  });
});

describe('two instances deliver each event once', () => {
  let db: TestDatabase;
  let receiver: WebhookReceiver;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    receiver = await WebhookReceiver.start(newWebhookSecret());
    const env = { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: receiver.secret, WEBHOOK_TIME_SCALE: '0.001', WEBHOOK_TIMEOUT_MS: '2000' };
    [a, b] = await Promise.all([0, 1].map(() => startTestServer(env, { database: db, migrate: true })));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await receiver?.close();
    await db?.drop();
  });

  it('sets up one environment endpoint when both start at once', async () => {
    expect(await query(db.url, `select url, enabled from webhook_endpoints where from_env`)).toEqual([{ url: receiver.url, enabled: true }]);
  });

  it('sends 40 events through both instances’ workers: each reaches the receiver once, or once per failed attempt', async () => {
    const first = new Set<string>();
    // Every event's first attempt fails: both instances then compete for the retries too.
    receiver.answer = (d) => (first.has(d.id) ? 204 : (first.add(d.id), 500));
    const token = await a.token('twin-merchant');
    const orders = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const server = i % 2 ? a : b;
        const order = (await server.gql(CREATE, { input: { amount: '1.00', subject: `twin ${i}` } }, token)).data!.createOrder;
        await (i % 3 ? b : a).gql(CLOSE, { id: order.id }, token);
        return order;
      }),
    );
    await waitFor('every delivery DELIVERED', async () => {
      const [row] = await query<{ n: number }>(db.url, `select count(*)::int as n from webhook_deliveries where status = 'DELIVERED'`);
      return row.n === 40;
    }, 30_000);
    const byId = new Map<string, number>();
    for (const r of receiver.ofType('order.closed')) byId.set(r.id, (byId.get(r.id) ?? 0) + 1);
    expect(byId.size).toBe(40);
    expect([...byId.values()].every((n) => n === 2)).toBe(true);
    expect(new Set(receiver.ofType('order.closed').map((r) => r.verified!.data.order.orderNo))).toEqual(new Set(orders.map((o) => o.orderNo)));
  });
});
