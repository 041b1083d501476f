import { createPublicKey } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { query } from '../support/db';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id, channel: PAGE) { url } }`;
const ORDER = `query($id: ID!) { order(id: $id) { status tradeNo events { type fromStatus toStatus source note } } }`;
const SYNC = `mutation($id: ID!) { syncOrder(orderId: $id) { status tradeNo } }`;
const CLOSE = `mutation($id: ID!) { closeOrder(orderId: $id) { status tradeNo } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { id status outRequestNo } }`;

/** Lets the built-in app's notifies go to a test merchant too (the local Alipay only calls registered URL prefixes). */
async function allowMerchant(server: TestServer, merchant: http.Server): Promise<void> {
  const merchantUrl = `http://127.0.0.1:${(merchant.address() as AddressInfo).port}/`;
  await server.app.localAlipay!.registerApp(server.config.alipay.appId, createPublicKey(server.config.alipay.appPrivateKey), 'RSA2', null, [
    `${server.config.publicUrl}/`,
    merchantUrl,
  ]);
}

describe('the local Alipay\'s scenario switch: what real Alipay does to a merchant', () => {
  let server: TestServer;
  let token: string;
  let admin: string;

  beforeAll(async () => {
    server = await startTestServer();
    token = await server.token('ivan');
    admin = await server.token('ops', ['admin']);
  });
  afterAll(async () => {
    await server?.close();
  });

  const scenario = async (body: Record<string, unknown>) => {
    const res = await fetch(`${server.url}/sandbox/alipay/scenario`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const forTrade = (orderNo: string, name: string, extra: Record<string, unknown> = {}) =>
    scenario({ scenario: name, appId: server.config.alipay.appId, outTradeNo: orderNo, ...extra });
  const create = async (amount = '10.00') => (await server.gql(CREATE, { input: { amount, subject: 'scenario' } }, token)).data!.createOrder as { id: string; orderNo: string };
  const payNow = async (id: string) => pressPay((await openCashier((await server.gql(PAY_LINK, { id }, token)).data!.generatePayLink.url)).cashierUrl);
  const order = async (id: string) => (await server.gql(ORDER, { id }, token)).data!.order;
  const trade = async (orderNo: string) => (await (await fetch(`${server.url}/sandbox/alipay/trades/${orderNo}`)).json()) as any;

  it('DROP_NOTIFY: the notify never comes, and syncOrder finds the payment', async () => {
    const o = await create();
    await forTrade(o.orderNo, 'DROP_NOTIFY');
    await payNow(o.id);
    await new Promise((r) => setTimeout(r, 300));
    expect((await order(o.id)).status).toBe('WAIT_BUYER_PAY');
    expect((await trade(o.orderNo)).notifications[0].status).toBe('DROPPED');
    const synced = await server.gql(SYNC, { id: o.id }, token);
    expect(synced.data!.syncOrder).toEqual({ status: 'TRADE_SUCCESS', tradeNo: (await trade(o.orderNo)).tradeNo });
    expect((await order(o.id)).events.find((e: { toStatus: string }) => e.toStatus === 'TRADE_SUCCESS').source).toBe('SYNC');
  });

  it('DROP_NOTIFY: closing an order the buyer paid meanwhile marks it paid instead', async () => {
    const o = await create();
    await forTrade(o.orderNo, 'DROP_NOTIFY');
    await payNow(o.id);
    const closed = await server.gql(CLOSE, { id: o.id }, token);
    expect(closed.data!.closeOrder.status).toBe('TRADE_SUCCESS');
    expect((await trade(o.orderNo)).status).toBe('TRADE_SUCCESS');
  });

  it('DUPLICATE_NOTIFY: the same notify twice at once changes the order once', async () => {
    const o = await create();
    await forTrade(o.orderNo, 'DUPLICATE_NOTIFY');
    await payNow(o.id);
    await waitFor('two deliveries', async () => (await trade(o.orderNo)).notifications.every((n: { status: string }) => n.status === 'DELIVERED'));
    const t = await trade(o.orderNo);
    expect(t.notifications).toHaveLength(2);
    expect(t.notifications[0].notifyId).toBe(t.notifications[1].notifyId);
    const verdicts = await query<{ verdict: string }>(server.db.url, "select verdict from callback_logs where out_trade_no = $1 and kind = 'NOTIFY' order by verdict", [o.orderNo]);
    expect(verdicts.map((v) => v.verdict)).toEqual(['APPLIED', 'DUPLICATE']);
    expect((await order(o.id)).events.filter((e: { type: string }) => e.type === 'STATUS_CHANGED')).toHaveLength(1);
  });

  it('OUT_OF_ORDER_NOTIFY: TRADE_FINISHED arrives before TRADE_SUCCESS; the order ends finished and the late one is a quiet duplicate', async () => {
    const o = await create();
    await forTrade(o.orderNo, 'OUT_OF_ORDER_NOTIFY');
    await payNow(o.id);
    await waitFor('both delivered', async () => {
      const t = await trade(o.orderNo);
      return t.notifications.length === 2 && t.notifications.every((n: { status: string }) => n.status === 'DELIVERED');
    });
    const final = await order(o.id);
    expect(final.status).toBe('TRADE_FINISHED');
    expect(final.events.filter((e: { type: string }) => e.type === 'TRANSITION_REFUSED')).toEqual([]);
    const callbacks = final.events.filter((e: { type: string }) => e.type === 'CALLBACK').map((e: { note: string }) => e.note);
    expect(callbacks).toEqual([expect.stringMatching(/^TRADE_FINISHED · APPLIED/), expect.stringMatching(/^TRADE_SUCCESS · DUPLICATE/)]);
  });

  it('DELAY_NOTIFY: the notify comes late, and the order waits for it', async () => {
    const o = await create();
    await forTrade(o.orderNo, 'DELAY_NOTIFY', { delayMs: 1500 });
    const paidAt = Date.now();
    await payNow(o.id);
    await new Promise((r) => setTimeout(r, 500));
    expect((await order(o.id)).status).toBe('WAIT_BUYER_PAY');
    await waitFor('late notify', async () => (await order(o.id)).status === 'TRADE_SUCCESS');
    expect(Date.now() - paidAt).toBeGreaterThanOrEqual(1500);
  });

  it('BUSY: 20000 answers are retried with backoff; beyond the retries it is ALIPAY_UNAVAILABLE', async () => {
    const o = await create();
    await forTrade(o.orderNo, 'DROP_NOTIFY');
    await payNow(o.id);
    await forTrade(o.orderNo, 'BUSY', { times: 2 });
    expect((await server.gql(SYNC, { id: o.id }, token)).data!.syncOrder.status).toBe('TRADE_SUCCESS');

    const p = await create();
    await payNow(p.id);
    await waitFor('paid', async () => (await order(p.id)).status === 'TRADE_SUCCESS');
    await forTrade(p.orderNo, 'BUSY');
    const refused = await server.gql(REFUND, { input: { orderId: p.id, amount: '1.00', idempotencyKey: 'busy-1' } }, admin);
    expect(refused.errors![0].extensions!.code).toBe('ALIPAY_UNAVAILABLE');
    const pending = await query<{ status: string; out_request_no: string }>(server.db.url, 'select status, out_request_no from refunds where idempotency_key = $1', ['busy-1']);
    expect(pending).toEqual([expect.objectContaining({ status: 'PENDING' })]);
    await fetch(`${server.url}/sandbox/alipay/scenario?appId=${server.config.alipay.appId}&outTradeNo=${p.orderNo}`, { method: 'DELETE' });
    const retried = await server.gql(REFUND, { input: { orderId: p.id, amount: '1.00', idempotencyKey: 'busy-1' } }, admin);
    expect(retried.data!.refundOrder).toMatchObject({ status: 'SUCCEEDED', outRequestNo: pending[0].out_request_no });
  });

  it('CLOSE_ON_TIMEOUT: the trade times out at Alipay, which closes it and tells the merchant', async () => {
    const o = await create();
    await forTrade(o.orderNo, 'CLOSE_ON_TIMEOUT');
    const cashier = await openCashier((await server.gql(PAY_LINK, { id: o.id }, token)).data!.generatePayLink.url);
    expect(cashier.html).toContain('This trade is closed');
    expect((await pressPay(cashier.cashierUrl)).html).toContain('Trade closed');
    await waitFor('closed here', async () => (await order(o.id)).status === 'TRADE_CLOSED');
  });

  it('puts every trade back to normal on DELETE /scenario without a trade, per-trade scenarios included (as the README says)', async () => {
    const o = await create();
    expect((await scenario({ scenario: 'BUSY', appId: server.config.alipay.appId, outTradeNo: o.orderNo })).status).toBe(200);
    expect((await scenario({ scenario: 'DELAY_NOTIFY', delayMs: 10 })).status).toBe(200);
    expect(((await (await fetch(`${server.url}/sandbox/alipay/scenario`)).json()) as unknown[]).length).toBeGreaterThanOrEqual(2);
    expect((await fetch(`${server.url}/sandbox/alipay/scenario`, { method: 'DELETE' })).status).toBe(204);
    expect(await (await fetch(`${server.url}/sandbox/alipay/scenario`)).json()).toEqual([]);
  });

  it('applies a global scenario to every trade until it is cleared', async () => {
    expect((await scenario({ scenario: 'DROP_NOTIFY' })).status).toBe(200);
    try {
      const o = await create();
      await payNow(o.id);
      expect((await trade(o.orderNo)).notifications[0].status).toBe('DROPPED');
    } finally {
      await fetch(`${server.url}/sandbox/alipay/scenario`, { method: 'DELETE' });
    }
    const o = await create();
    await payNow(o.id);
    await waitFor('delivered again', async () => (await order(o.id)).status === 'TRADE_SUCCESS');
  });

  it('refuses malformed scenario requests with the reasons', async () => {
    for (const body of [{}, { scenario: 'EXPLODE' }, { scenario: 'BUSY', appId: '1' }, { scenario: 'DELAY_NOTIFY', delayMs: -5 }, { scenario: 'BUSY', times: 1.5 }]) {
      const res = await scenario(body);
      expect(res.status).toBe(400);
      expect((res.body.errors as string[]).length).toBeGreaterThan(0);
    }
  });

  it("resends a notify on Alipay's schedule until it is answered success, then stops", async () => {
    const arrivals: number[] = [];
    const merchant = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        arrivals.push(Date.now());
        res.end(arrivals.length < 4 ? 'fail' : 'success');
      });
    });
    await new Promise<void>((r) => merchant.listen(0, '127.0.0.1', r));
    await allowMerchant(server, merchant);
    try {
      const o = await create();
      const { url } = await server.app.alipay.payRequest(
        'PAGE',
        { outTradeNo: o.orderNo, totalAmount: '10.00', subject: 'scenario' },
        { notifyUrl: `http://127.0.0.1:${(merchant.address() as AddressInfo).port}/notify` },
      );
      await pressPay((await openCashier(url!)).cashierUrl);
      await waitFor('delivered on the 4th attempt', async () => (await trade(o.orderNo)).notifications[0].status === 'DELIVERED', 20_000);
      const n = (await trade(o.orderNo)).notifications[0];
      expect(n.attempts).toBe(4);
      expect(arrivals).toHaveLength(4);
      // Waits of 4 min, 10 min, 10 min at SANDBOX_TIME_SCALE=0.0001: at least 24, 60 and 60 ms apart.
      const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]);
      expect(gaps[0]).toBeGreaterThanOrEqual(24);
      expect(gaps[1]).toBeGreaterThanOrEqual(60);
      expect(gaps[2]).toBeGreaterThanOrEqual(60);
      await new Promise((r) => setTimeout(r, 300));
      expect(arrivals).toHaveLength(4);
    } finally {
      merchant.close();
    }
  });
});

describe('a merchant that never answers success', () => {
  it('gets 8 notifies in all (the first and 7 resends), then Alipay gives up', async () => {
    const server = await startTestServer({ SANDBOX_TIME_SCALE: '0.00001' });
    let arrivals = 0;
    const merchant = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        arrivals++;
        res.end('failure');
      });
    });
    await new Promise<void>((r) => merchant.listen(0, '127.0.0.1', r));
    await allowMerchant(server, merchant);
    try {
      const token = await server.token('judy');
      const o = (await server.gql(CREATE, { input: { amount: '1.00', subject: 'never acked' } }, token)).data!.createOrder;
      const { url } = await server.app.alipay.payRequest(
        'PAGE',
        { outTradeNo: o.orderNo, totalAmount: '1.00', subject: 'never acked' },
        { notifyUrl: `http://127.0.0.1:${(merchant.address() as AddressInfo).port}/notify` },
      );
      await pressPay((await openCashier(url!)).cashierUrl);
      const trade = async () => (await (await fetch(`${server.url}/sandbox/alipay/trades/${o.orderNo}`)).json()) as any;
      await waitFor('gave up', async () => (await trade()).notifications[0].status === 'FAILED', 20_000);
      expect((await trade()).notifications[0]).toMatchObject({ attempts: 8, lastReply: 'failure' });
      await new Promise((r) => setTimeout(r, 300));
      expect(arrivals).toBe(8);
    } finally {
      merchant.close();
      await server.close();
    }
  });
});
