import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`;
const CONTROL = 'control-token-0123456789abcdef-0123456789';

describe('the local Alipay run in production on purpose (SANDBOX_IN_PRODUCTION + SANDBOX_CONTROL_TOKEN)', () => {
  let server: TestServer;
  let token: string;
  let order: { id: string; orderNo: string; amount: string };
  const base = () => `${server.url}/sandbox/alipay`;
  const withToken = { authorization: `Bearer ${CONTROL}` };

  beforeAll(async () => {
    server = await startTestServer({
      NODE_ENV: 'production',
      ALIPAY_GATEWAY: 'sandbox',
      JWT_SECRET: 'prod-sandbox-secret-0123456789abcdef-01',
      SANDBOX_IN_PRODUCTION: 'true',
      SANDBOX_CONTROL_TOKEN: CONTROL,
    });
    token = await server.token('shopper');
    order = (await server.gql(CREATE, { input: { amount: '999.00', subject: 'expensive' } }, token)).data!.createOrder;
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each([
    ['GET', '/'],
    ['GET', '/apps'],
    ['GET', '/scenario'],
    ['DELETE', '/scenario'],
    ['GET', `/trades/ORDER`],
  ])('refuses %s %s to a stranger with 401', async (method, path) => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: CONTROL }] as Array<Record<string, string>>) {
      const res = await fetch(`${base()}${path.replace('ORDER', order.orderNo)}`, { method, headers });
      expect(res.status).toBe(401);
      expect(await res.text()).not.toContain(order.orderNo);
    }
  });

  it('refuses a stranger registering an app or switching DROP_NOTIFY on for every trade', async () => {
    const put = (path: string, body: unknown) =>
      fetch(`${base()}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await put('/apps/2021000000000999', { publicKey: 'x' })).status).toBe(401);
    expect((await put('/scenario', { scenario: 'DROP_NOTIFY' })).status).toBe(401);
    const scenarios = await fetch(`${base()}/scenario`, { headers: withToken });
    expect(await scenarios.json()).toEqual([]);
  });

  it('still takes payments through the signed pay link and the cashier, and shows the trade to the token holder', async () => {
    const url = (await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink.url;
    await pressPay((await openCashier(url)).cashierUrl);
    await waitFor('paid', async () => (await server.gql(`query($id: ID!) { order(id: $id) { status } }`, { id: order.id }, token)).data!.order.status === 'TRADE_SUCCESS');
    const view = (await (await fetch(`${base()}/trades/${order.orderNo}`, { headers: withToken })).json()) as any;
    expect(view).toMatchObject({ status: 'TRADE_SUCCESS', cashierUrl: expect.stringContaining('/cashier/') });
    expect(view.notifications[0].lastReply).toBe('success');
  });

  it('refuses a signed pay request whose notify_url points at another host (no server-side request forgery)', async () => {
    let reached = false;
    const internal = http.createServer((_req, res) => {
      reached = true;
      res.end('internal secrets');
    });
    await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
    try {
      const other = (await server.gql(CREATE, { input: { amount: '1.00', subject: 'ssrf' } }, token)).data!.createOrder;
      const { url } = await server.app.alipay.payRequest(
        'PAGE',
        { outTradeNo: other.orderNo, totalAmount: '1.00', subject: 'ssrf' },
        { notifyUrl: `http://127.0.0.1:${(internal.address() as AddressInfo).port}/admin` },
      );
      const res = await fetch(url!, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('not under a URL prefix registered for the app');
      expect(reached).toBe(false);
    } finally {
      internal.close();
    }
  });
});

describe('the local Alipay in development', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('shows no cashier token in its trade view or console, and keeps only the verdict of a notify reply', async () => {
    const token = await server.token('dev-shopper');
    const order = (await server.gql(CREATE, { input: { amount: '2.00', subject: 'dev' } }, token)).data!.createOrder;
    const url = (await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink.url;
    await openCashier(url);
    const view = (await (await fetch(`${server.url}/sandbox/alipay/trades/${order.orderNo}`)).json()) as any;
    expect(view).not.toHaveProperty('cashierUrl');
    expect(JSON.stringify(view)).not.toMatch(/cashier\//);
    expect(await (await fetch(`${server.url}/sandbox/alipay/`)).text()).not.toMatch(/\/cashier\//);
  });
});
