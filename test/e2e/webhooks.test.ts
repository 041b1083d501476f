import { openCashier, pressPay, waitFor } from '../support/buyer';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';
import { newWebhookSecret, WebhookReceiver } from '../support/webhook-receiver';
import { createLogger } from '../../src/common/logger';
import { Metrics } from '../../src/common/metrics';
import { createPool, inTransaction, onCommitted } from '../../src/db/sql';
import { lockOrder } from '../../src/orders/order.row';
import { transition } from '../../src/orders/order.state';
import { EventSource, OrderStatus } from '../../src/orders/order.types';
import { WebhookService } from '../../src/webhooks/webhook.service';
import { newTradeNo, signedNotifyBody } from '../../src/sandbox/sandbox.callbacks';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id, channel: PAGE) { url } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { id outRequestNo status } }`;
const CLOSE = `mutation($id: ID!) { closeOrder(orderId: $id) { status } }`;

/** The service with WEBHOOK_URL pointing at a receiver; waits compressed a thousandfold. */
async function serviceWith(receiver: WebhookReceiver, env: Record<string, string> = {}): Promise<TestServer> {
  return startTestServer({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: receiver.secret, WEBHOOK_TIME_SCALE: '0.001', WEBHOOK_TIMEOUT_MS: '1000', ...env });
}

async function paidOrder(server: TestServer, token: string, amount = '20.00') {
  const order = (await server.gql(CREATE, { input: { amount, subject: '一盒茶 webhook' } }, token)).data!.createOrder;
  const link = (await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink;
  const { cashierUrl } = await openCashier(link.url);
  await pressPay(cashierUrl);
  return order as { id: string; orderNo: string; amount: string };
}

describe('merchant webhooks: signed, at least once, in order', () => {
  let receiver: WebhookReceiver;
  let server: TestServer;
  let token: string;
  let admin: string;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start(newWebhookSecret());
    server = await serviceWith(receiver);
    token = await server.token('merchant-buyer');
    admin = await server.token('ops', ['admin']);
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });
  beforeEach(() => {
    receiver.answer = () => 204;
  });

  it('delivers order.paid after a cashier payment and order.refunded after a partial refund, verified by standardwebhooks as it is', async () => {
    const order = await paidOrder(server, token);
    const paid = await waitFor('order.paid', async () => receiver.ofType('order.paid').find((r) => r.verified!.data.order.orderNo === order.orderNo));
    expect(paid.id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(paid.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(paid.timestamp) - Date.now() / 1000)).toBeLessThan(30);
    expect(paid.verified).toEqual({
      type: 'order.paid',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      data: {
        order: {
          id: order.id,
          orderNo: order.orderNo,
          userId: 'merchant-buyer',
          amount: '20.00',
          status: 'TRADE_SUCCESS',
          tradeNo: expect.stringMatching(/^\d+$/),
          paidAt: expect.any(String),
          refundedAmount: '0.00',
        },
      },
    });

    const refund = (await server.gql(REFUND, { input: { orderId: order.id, amount: '5.50', reason: 'one box short' } }, admin)).data!.refundOrder;
    expect(refund.status).toBe('SUCCEEDED');
    const refunded = await waitFor('order.refunded', async () => receiver.ofType('order.refunded').find((r) => r.verified!.data.order.orderNo === order.orderNo));
    expect(refunded.verified!.data).toEqual({
      order: expect.objectContaining({ orderNo: order.orderNo, amount: '20.00', status: 'TRADE_SUCCESS', refundedAmount: '5.50' }),
      refund: { id: refund.id, outRequestNo: refund.outRequestNo, amount: '5.50', status: 'SUCCEEDED' },
    });
    // The local Alipay's refund notify finds the refund already recorded: no second event.
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.ofType('order.refunded').filter((r) => r.verified!.data.order.orderNo === order.orderNo)).toHaveLength(1);
  });

  it('retries a receiver that answers 500 twice with the same webhook-id, and the delivery ends DELIVERED with its attempts', async () => {
    const failures = new Map<string, number>();
    receiver.answer = (d) => {
      const n = failures.get(d.id) ?? 0;
      failures.set(d.id, n + 1);
      return n < 2 ? 500 : 204;
    };
    const order = (await server.gql(CREATE, { input: { amount: '1.00', subject: 'closed' } }, token)).data!.createOrder;
    await server.gql(CLOSE, { id: order.id }, token);
    const deliveries = await waitFor('three attempts', async () => {
      const mine = receiver.ofType('order.closed').filter((r) => r.verified!.data.order.orderNo === order.orderNo);
      return mine.length >= 3 && mine;
    });
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(1);
    expect(deliveries).toHaveLength(3);
    const endpoints = (await server.gql(`{ webhookEndpoints { id fromEnv enabled url } }`, {}, admin)).data!.webhookEndpoints;
    expect(endpoints).toEqual([{ id: expect.any(String), fromEnv: true, enabled: true, url: receiver.url }]);
    const page = await waitFor('DELIVERED', async () => {
      const res = await server.gql(
        `query($id: ID!) { webhookDeliveries(endpointId: $id, first: 10) { edges { node { eventId type status attempts lastStatusCode attemptLog { attempt statusCode error responseExcerpt durationMs } } } } }`,
        { id: endpoints[0].id },
        admin,
      );
      expect(res.errors).toBeUndefined();
      const node = res.data!.webhookDeliveries.edges.map((e: any) => e.node).find((n: any) => n.eventId === deliveries[0].id);
      return node?.status === 'DELIVERED' && node;
    });
    expect(page).toMatchObject({ type: 'order.closed', attempts: 3, lastStatusCode: 204 });
    expect(page.attemptLog.map((a: any) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 500, 'answered 500'],
      [2, 500, 'answered 500'],
      [3, 204, null],
    ]);
    expect(page.attemptLog[0].responseExcerpt).toBe('answer 500');
  });

  it('times out a receiver that hangs, and retries it', async () => {
    let hung = 0;
    receiver.answer = () => (hung++ === 0 ? 'hang' : 204);
    const order = (await server.gql(CREATE, { input: { amount: '1.00', subject: 'hang' } }, token)).data!.createOrder;
    await server.gql(CLOSE, { id: order.id }, token);
    const both = await waitFor('a retry after the time-out', async () => {
      const mine = receiver.ofType('order.closed').filter((r) => r.verified!.data.order.orderNo === order.orderNo);
      return mine.length >= 2 && mine;
    });
    expect(both[0].id).toBe(both[1].id);
    expect(both[1].at - both[0].at).toBeGreaterThanOrEqual(900); // WEBHOOK_TIMEOUT_MS=1000
    const rows = await query<{ error: string }>(server.db.url, `select a.error from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.event_id = $1 order by a.id`, [both[0].id]);
    expect(rows[0].error).toBe('no answer within 1000 ms');
  });

  it('delivers one order’s events in the order they happened: a later one waits while an earlier one is failing', async () => {
    const order = await paidOrder(server, token, '9.00');
    // Fail every delivery of this order until the refund's event exists and has had time to jump the queue.
    let open = false;
    receiver.answer = (d) => (d.verified!.data.order.orderNo === order.orderNo && !open ? 503 : 204);
    await waitFor('order.paid attempted', async () => receiver.ofType('order.paid').some((r) => r.verified!.data.order.orderNo === order.orderNo));
    await server.gql(REFUND, { input: { orderId: order.id, amount: '9.00', reason: 'all of it' } }, admin);
    await new Promise((r) => setTimeout(r, 500));
    const mine = () => receiver.received.filter((r) => r.verified?.data.order.orderNo === order.orderNo).map((r) => r.verified!.type);
    expect(new Set(mine())).toEqual(new Set(['order.paid']));
    open = true;
    await waitFor('all three delivered', async () => {
      const types = mine();
      return types.includes('order.refunded') && types.includes('order.closed');
    });
    const firstSeen = [...new Set(mine())];
    expect(firstSeen).toEqual(['order.paid', 'order.refunded', 'order.closed']);
  });

  it('sends nothing for a transition whose transaction rolls back, and exactly one event when it commits', async () => {
    const pool = createPool(server.db.url, 2, () => undefined);
    const webhooks = new WebhookService(pool, server.config.webhooks, createLogger('silent'), new Metrics(), { development: false });
    onCommitted(pool, webhooks.hooks);
    try {
      const order = (await server.gql(CREATE, { input: { amount: '4.00', subject: 'rolled back' } }, token)).data!.createOrder;
      const close = (fail: boolean) =>
        inTransaction(pool, async (tx) => {
          const locked = await lockOrder(tx, { id: order.id });
          expect((await transition(tx, locked!, OrderStatus.TRADE_CLOSED, { source: EventSource.API })).outcome).toBe('APPLIED');
          if (fail) throw new Error('a later step of the same change failed');
        });
      await expect(close(true)).rejects.toThrow('a later step');
      const events = () => query<{ type: string }>(server.db.url, `select type from webhook_events where order_id = $1`, [order.id]);
      expect(await events()).toEqual([]);
      expect((await query<{ status: string }>(server.db.url, `select status from orders where id = $1`, [order.id]))[0].status).toBe('WAIT_BUYER_PAY');
      await new Promise((r) => setTimeout(r, 200));
      expect(receiver.received.filter((r) => r.verified?.data.order.orderNo === order.orderNo)).toEqual([]);

      await close(false);
      expect(await events()).toEqual([{ type: 'order.closed' }]);
      await waitFor('the committed close', async () => receiver.ofType('order.closed').some((r) => r.verified!.data.order.orderNo === order.orderNo));
    } finally {
      await webhooks.stop();
      await pool.end();
    }
  });

  it('gives up after the last wait of WEBHOOK_RETRY_SCHEDULE, leaving the delivery FAILED with an error line', async () => {
    const quick = await WebhookReceiver.start(newWebhookSecret());
    quick.answer = () => 502;
    const s2 = await serviceWith(quick, { WEBHOOK_RETRY_SCHEDULE: '1s,2s' });
    try {
      const t = await s2.token('give-up');
      const order = (await s2.gql(CREATE, { input: { amount: '1.00', subject: 'gives up' } }, t)).data!.createOrder;
      await s2.gql(CLOSE, { id: order.id }, t);
      await waitFor('FAILED', async () => (await query<{ status: string }>(s2.db.url, `select status from webhook_deliveries`))[0]?.status === 'FAILED');
      expect(quick.received).toHaveLength(3);
      const line = s2.logs.map((l) => JSON.parse(l)).find((l) => /WEBHOOK NOT DELIVERED/.test(l.msg));
      expect(line).toMatchObject({ level: 'error', attempt: 3, statusCode: 502, webhookType: 'order.closed', endpoint: new URL(quick.url).origin });
      const metrics = await (await fetch(`${s2.url}/metrics`)).text();
      expect(metrics).toMatch(/webhook_attempts_total\{outcome="retry"\} 2/);
      expect(metrics).toMatch(/webhook_attempts_total\{outcome="failed"\} 1/);
      expect(metrics).toMatch(/webhook_attempt_duration_seconds_count\{outcome="failed"\} 1/);
    } finally {
      await s2.close();
      await quick.close();
    }
  });

  it('tells of the payment and the refund when Alipay’s full-refund notify arrives before the payment’s: paid, refunded, closed', async () => {
    const order = (await server.gql(CREATE, { input: { amount: '8.00', subject: 'refund first' } }, token)).data!.createOrder;
    const body = await signedNotifyBody(
      {
        appId: server.config.alipay.appId,
        sellerId: server.config.alipay.sellerId!,
        outTradeNo: order.orderNo,
        tradeNo: newTradeNo(),
        totalAmount: '8.00',
        tradeStatus: 'TRADE_CLOSED',
        refundFee: '8.00',
        paidAt: new Date(),
        refundedAt: new Date(),
      },
      server.alipayKey,
    );
    expect(await server.notify(body)).toEqual({ status: 200, text: 'success' });
    const types = await waitFor('three events', async () => {
      const mine = receiver.received.filter((r) => r.verified?.data.order.orderNo === order.orderNo).map((r) => r.verified!.type);
      return mine.length >= 3 && mine;
    });
    expect(types).toEqual(['order.paid', 'order.refunded', 'order.closed']);
    const refunded = receiver.ofType('order.refunded').find((r) => r.verified!.data.order.orderNo === order.orderNo)!;
    expect(refunded.verified!.data.refund).toEqual({ id: null, outRequestNo: null, amount: '8.00', status: 'SUCCEEDED' });
  });

  it('never writes the secret or a signature to the log', async () => {
    const all = server.logs.join('\n');
    expect(all).not.toContain(receiver.secret);
    expect(all).not.toContain(receiver.secret.slice(6));
    for (const r of receiver.received) expect(all).not.toContain(r.signature.slice(3));
    expect(all).toMatch(/webhook attempt failed; will retry/);
  });
});
