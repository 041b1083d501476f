import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '../support/buyer';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';
import { newWebhookSecret, WebhookReceiver } from '../support/webhook-receiver';
import { isWebhookSecret } from '../../src/config';
import { sendWebhook } from '../../src/webhooks/webhook.sender';

const CREATE_ENDPOINT = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { id url events enabled fromEnv secret } }`;
const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo } }`;
const CLOSE = `mutation($id: ID!) { closeOrder(orderId: $id) { status } }`;
const DELIVERIES = `query($id: ID!) { webhookDeliveries(endpointId: $id, first: 20) { edges { node { id eventId type status attempts lastError payload } } pageInfo { hasNextPage endCursor } } }`;

describe('webhook endpoints over GraphQL (admin only)', () => {
  let server: TestServer;
  let receiver: WebhookReceiver;
  let admin: string;
  let user: string;

  beforeAll(async () => {
    server = await startTestServer({ WEBHOOK_TIME_SCALE: '0.001', WEBHOOK_TIMEOUT_MS: '1000', NODE_ENV: 'development' });
    receiver = await WebhookReceiver.start('whsec_placeholder');
    admin = await server.token('ops', ['admin']);
    user = await server.token('buyer');
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it('logs, in development with no endpoint, the webhook it would have sent', async () => {
    const order = (await server.gql(CREATE, { input: { amount: '1.00', subject: 'nobody listens' } }, user)).data!.createOrder;
    await server.gql(CLOSE, { id: order.id }, user);
    const line = await waitFor('the would-have-sent line', async () =>
      server.logs.map((l) => JSON.parse(l)).find((l) => /webhook not sent: no endpoint configured/.test(l.msg) && l.body?.data?.order?.orderNo === order.orderNo),
    );
    expect(line).toMatchObject({ level: 'info', webhookType: 'order.closed', body: { type: 'order.closed', data: { order: { status: 'TRADE_CLOSED' } } } });
  });

  it('creates an endpoint with a Standard Webhooks secret shown once, and delivers only the events it asked for', async () => {
    const res = await server.gql(CREATE_ENDPOINT, { input: { url: receiver.url, events: ['order.closed', 'order.closed'] } }, admin);
    expect(res.errors).toBeUndefined();
    const endpoint = res.data!.createWebhookEndpoint;
    expect(endpoint).toMatchObject({ url: receiver.url, events: ['order.closed'], enabled: true, fromEnv: false });
    expect(isWebhookSecret(endpoint.secret)).toBe(true);
    expect(Buffer.from(endpoint.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    (receiver as { secret: string }).secret = endpoint.secret;

    const listed = await server.gql(`{ webhookEndpoints { id url events enabled } }`, {}, admin);
    expect(JSON.stringify(listed)).not.toContain(endpoint.secret);
    const asSecret = await server.gql(`{ webhookEndpoints { id secret } }`, {}, admin);
    expect(asSecret.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const order = (await server.gql(CREATE, { input: { amount: '2.00', subject: 'listened to' } }, user)).data!.createOrder;
    await server.gql(CLOSE, { id: order.id }, user);
    const closed = await waitFor('order.closed', async () => receiver.ofType('order.closed').find((r) => r.verified!.data.order.orderNo === order.orderNo));
    expect(closed.verified!.data.order.status).toBe('TRADE_CLOSED');
    expect(receiver.received.every((r) => r.verified?.type === 'order.closed')).toBe(true);
  });

  it('redelivers a FAILED delivery with the same webhook-id, and disabling an endpoint ends its pending deliveries', async () => {
    receiver.answer = () => 500;
    const endpoint = (await server.gql(CREATE_ENDPOINT, { input: { url: receiver.url } }, admin)).data!.createWebhookEndpoint;
    (receiver as { secret: string }).secret = endpoint.secret;
    const order = (await server.gql(CREATE, { input: { amount: '2.00', subject: 'redeliver' } }, user)).data!.createOrder;
    await server.gql(CLOSE, { id: order.id }, user);
    const failing = await waitFor('a failing attempt', async () => receiver.received.find((r) => r.verified?.data.order.orderNo === order.orderNo));
    // Give up now (as the schedule's end would): the delivery is FAILED.
    await query(server.db.url, `update webhook_deliveries set status = 'FAILED', leased_until = null where event_id = $1`, [failing.id]);
    const page = (await server.gql(DELIVERIES, { id: endpoint.id }, admin)).data!.webhookDeliveries;
    const node = page.edges.map((e: any) => e.node).find((n: any) => n.eventId === failing.id);
    expect(node).toMatchObject({ status: 'FAILED', type: 'order.closed', lastError: 'answered 500' });
    expect(JSON.parse(node.payload)).toMatchObject({ type: 'order.closed', data: { order: { orderNo: order.orderNo } } });

    receiver.answer = () => 204;
    const before = receiver.received.filter((r) => r.id === failing.id).length;
    const redelivered = await server.gql(`mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { status attempts } }`, { id: node.id }, admin);
    expect(redelivered.data!.redeliverWebhook).toEqual({ status: 'PENDING', attempts: 0 });
    await waitFor('the redelivery', async () => receiver.received.filter((r) => r.id === failing.id).length > before);
    await waitFor('DELIVERED', async () => (await query<{ status: string }>(server.db.url, `select status from webhook_deliveries where id = $1`, [node.id]))[0].status === 'DELIVERED');

    receiver.answer = () => 500;
    const other = (await server.gql(CREATE, { input: { amount: '2.00', subject: 'disabled' } }, user)).data!.createOrder;
    await server.gql(CLOSE, { id: other.id }, user);
    await waitFor('an attempt', async () => receiver.received.some((r) => r.verified?.data.order.orderNo === other.orderNo));
    const disabled = await server.gql(`mutation($id: ID!) { disableWebhookEndpoint(id: $id) { enabled disabledAt } }`, { id: endpoint.id }, admin);
    expect(disabled.data!.disableWebhookEndpoint).toEqual({ enabled: false, disabledAt: expect.any(String) });
    const rows = await query<{ status: string; last_error: string }>(server.db.url, `select status, last_error from webhook_deliveries where endpoint_id = $1 and status <> 'DELIVERED'`, [endpoint.id]);
    expect(rows.every((r) => r.status === 'FAILED')).toBe(true);
    // An attempt already in flight when it was disabled may still land (it was claimed before); none starts after.
    const signedBySecond = () => receiver.received.filter((r) => r.verified).length;
    await new Promise((r) => setTimeout(r, 1100));
    const count = signedBySecond();
    await new Promise((r) => setTimeout(r, 400));
    expect(signedBySecond()).toBe(count);
    const refused = await server.gql(`mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { status } }`, { id: node.id }, admin);
    expect(refused.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('refuses non-admins, and malformed or hostile input with a clear error and nothing written', async () => {
    const count = async () => (await query<{ n: number }>(server.db.url, `select count(*)::int as n from webhook_endpoints`))[0].n;
    const before = await count();
    for (const q of [`{ webhookEndpoints { id } }`, `mutation { createWebhookEndpoint(input: { url: "http://127.0.0.1:1/x" }) { id } }`]) {
      expect((await server.gql(q, {}, user)).errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect((await server.gql(q, {}, null)).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    }
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ url: 'ftp://example.com/hook' }, /only http and https/],
      [{ url: 'javascript:alert(1)' }, /only http and https/],
      [{ url: 'file:///etc/passwd' }, /only http and https/],
      [{ url: 'not a url' }, /spaces or control|not a URL/],
      [{ url: 'http://user:pw@example.com/' }, /user name or password/],
      [{ url: `http://example.com/${'a'.repeat(3000)}` }, /longer than 2048/],
      [{ url: 'http://example.com/\u0000x' }, /control characters/],
      [{ url: receiver.url, events: ['order.paid', 'order.exploded'] }, /unknown event type "order.exploded"/],
      [{ url: receiver.url, events: Array(20).fill('order.paid') }, /too many/],
    ];
    for (const [input, message] of bad) {
      const res = await server.gql(CREATE_ENDPOINT, { input }, admin);
      expect(res.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      expect(res.errors?.[0].message).toMatch(message);
    }
    for (const id of ['nope', "'; drop table webhook_endpoints; --", '00000000-0000-4000-8000-000000000000']) {
      expect((await server.gql(`mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id }, admin)).errors?.[0].extensions?.code).toBe('NOT_FOUND');
      expect((await server.gql(`mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }`, { id }, admin)).errors?.[0].extensions?.code).toBe('NOT_FOUND');
      expect((await server.gql(DELIVERIES, { id }, admin)).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    }
    expect(await count()).toBe(before);
  });
});

describe('webhook destinations in production', () => {
  let server: TestServer;
  let admin: string;
  const production = {
    NODE_ENV: 'production',
    ALIPAY_GATEWAY: 'sandbox',
    SANDBOX_IN_PRODUCTION: 'true',
    SANDBOX_CONTROL_TOKEN: 'control-token-0123456789abcdef-0123456789',
    JWT_SECRET: 'webhook-prod-secret-0123456789abcdef-0123',
  };
  beforeAll(async () => {
    server = await startTestServer(production);
    admin = await server.token('ops', ['admin']);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses loopback, private, link-local and mapped addresses, and names that resolve to them', async () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://10.1.2.3/hook',
      'http://172.16.0.9/hook',
      'http://192.168.1.1/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://100.64.0.1/hook',
      'http://0.0.0.0/hook',
      'http://[::1]/hook',
      'http://[fd00::1]/hook',
      'http://[fe80::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://2130706433/hook',
    ]) {
      const res = await server.gql(CREATE_ENDPOINT, { input: { url } }, admin);
      expect([url, res.errors?.[0].extensions?.code]).toEqual([url, 'BAD_USER_INPUT']);
      expect(res.errors?.[0].message).toMatch(/private, loopback or link-local|does not resolve/);
    }
    expect(await query(server.db.url, `select id from webhook_endpoints`)).toEqual([]);
  });

  it('refuses a private WEBHOOK_URL at start-up unless WEBHOOK_ALLOW_PRIVATE=true', async () => {
    const env = { ...production, WEBHOOK_URL: 'http://10.0.0.5/hooks', WEBHOOK_SECRET: newWebhookSecret() };
    await expect(startTestServer(env)).rejects.toThrow(/WEBHOOK_URL: 10\.0\.0\.5 is a loopback, private or link-local address/);
    const allowed = await startTestServer({ ...env, WEBHOOK_ALLOW_PRIVATE: 'true' });
    await allowed.close();
  });

  it('does not follow a redirect and does not connect to a private address a redirect or DNS points at', async () => {
    const hits: string[] = [];
    const target = http.createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(req.url === '/redirect' ? 307 : 204, { location: 'http://169.254.169.254/latest' }).end();
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    const port = (target.address() as AddressInfo).port;
    try {
      const refused = await sendWebhook(`http://localhost:${port}/redirect`, {}, '{}', { timeoutMs: 1000, allowPrivate: false });
      expect(refused).toMatchObject({ ok: false, statusCode: null, error: expect.stringMatching(/localhost resolves to a private, loopback or link-local address/) });
      expect(hits).toEqual([]);
      const redirected = await sendWebhook(`http://127.0.0.1:${port}/redirect`, {}, '{}', { timeoutMs: 1000, allowPrivate: true });
      expect(redirected).toMatchObject({ ok: false, statusCode: 307, error: 'answered 307 (redirects are not followed)' });
      expect(hits).toEqual(['/redirect']);
    } finally {
      target.closeAllConnections();
      await new Promise((r) => target.close(r));
    }
  });

  it('reads an answer only up to a small limit, and keeps the first 512 bytes of it, without control characters', async () => {
    let written = 0;
    const big = http.createServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      chunk.write('\u001b[31mred\u0007', 0);
      const pump = () => {
        while (written < 50 * 1024 * 1024 && res.write(chunk)) written += chunk.length;
        if (written < 50 * 1024 * 1024) res.once('drain', pump);
        else res.end();
      };
      pump();
      res.on('close', () => undefined);
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', () => r()));
    try {
      const result = await sendWebhook(`http://127.0.0.1:${(big.address() as AddressInfo).port}/`, {}, '{}', { timeoutMs: 5000, allowPrivate: true });
      expect(result).toMatchObject({ ok: false, statusCode: 500, error: 'answered 500' });
      expect(result.excerpt!.length).toBeLessThanOrEqual(512);
      expect(result.excerpt).toMatch(/^\[31mredx+$/);
      expect(written).toBeLessThan(50 * 1024 * 1024);
    } finally {
      big.closeAllConnections();
      await new Promise((r) => big.close(r));
    }
  });
});
