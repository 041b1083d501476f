import { parseForm } from '../../src/alipay/alipay.form';
import { canonicalString, REQUEST_OMIT, verifyText } from '../../src/alipay/alipay.signer';
import { createPublicKey } from 'node:crypto';
import { newTradeNo, signedNotifyBody, type NotifyTrade } from '../../src/sandbox/sandbox.callbacks';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) {
  createOrder(input: $input) { id orderNo subject body amount status tradeNo paidAt refundedAmount expiresAt createdAt }
}`;
const PAY_LINK = `mutation($id: ID!, $channel: PayChannel) {
  generatePayLink(orderId: $id, channel: $channel) { channel url orderString qrCode expiresAt }
}`;
const ORDER = `query($id: ID!) {
  order(id: $id) { id status tradeNo paidAt amount events { type fromStatus toStatus source note at } }
}`;

describe('the payment loop over HTTP: create → pay link → notify → paid', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    token = await server.token('alice');
  });
  afterAll(async () => {
    await server?.close();
  });

  async function createOrder(amount = '88.88', subject = 'A cup of tea'): Promise<{ id: string; orderNo: string; amount: string }> {
    const res = await server.gql(CREATE, { input: { amount, subject } }, token);
    expect(res.errors).toBeUndefined();
    return res.data!.createOrder;
  }

  function trade(order: { orderNo: string; amount: string }, overrides: Partial<NotifyTrade> = {}): NotifyTrade {
    return {
      appId: server.config.alipay.appId,
      sellerId: server.config.alipay.sellerId!,
      outTradeNo: order.orderNo,
      tradeNo: newTradeNo(),
      totalAmount: order.amount,
      subject: 'A cup of tea',
      tradeStatus: 'TRADE_SUCCESS',
      buyerId: '2088000000000002',
      ...overrides,
    };
  }

  it('creates an order in WAIT_BUYER_PAY with the exact amount and a 15 minute expiry', async () => {
    const before = Date.now();
    const res = await server.gql(CREATE, { input: { amount: '88.88', subject: '一杯茶 + cake', body: 'oolong' } }, token);
    expect(res.errors).toBeUndefined();
    const order = res.data!.createOrder;
    expect(order).toMatchObject({ amount: '88.88', subject: '一杯茶 + cake', body: 'oolong', status: 'WAIT_BUYER_PAY', tradeNo: null, paidAt: null, refundedAmount: '0.00' });
    expect(order.orderNo).toMatch(/^\d{24}$/);
    const ttl = new Date(order.expiresAt).getTime() - new Date(order.createdAt).getTime();
    expect(ttl).toBe(15 * 60_000);
    expect(new Date(order.createdAt).getTime()).toBeGreaterThanOrEqual(before - 1000);
    const rows = await query<{ amount: string }>(server.db.url, 'select amount::text from orders where id = $1', [order.id]);
    expect(rows[0].amount).toBe('88.88');
  });

  it('gives a PAGE pay link that is a signed alipay.trade.page.pay GET URL on the gateway', async () => {
    const order = await createOrder('0.01');
    const res = await server.gql(PAY_LINK, { id: order.id, channel: 'PAGE' }, token);
    expect(res.errors).toBeUndefined();
    const link = res.data!.generatePayLink;
    expect(link.channel).toBe('PAGE');
    expect(link.orderString).toBeNull();
    const url = new URL(link.url);
    expect(`${url.origin}${url.pathname}`).toBe(server.config.alipay.gatewayUrl);
    const params = parseForm(url.search.slice(1));
    expect(params).toMatchObject({ app_id: server.config.alipay.appId, method: 'alipay.trade.page.pay', charset: 'utf-8', sign_type: 'RSA2', version: '1.0', format: 'JSON' });
    expect(params.notify_url).toBe(`${server.config.publicUrl}/alipay/notify`);
    expect(params.return_url).toBe(`${server.config.publicUrl}/alipay/return`);
    expect(JSON.parse(params.biz_content)).toMatchObject({ out_trade_no: order.orderNo, total_amount: '0.01', product_code: 'FAST_INSTANT_TRADE_PAY' });
    expect(params.timestamp).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    const appPublic = createPublicKey(server.config.alipay.appPrivateKey);
    await expect(verifyText(canonicalString(params, REQUEST_OMIT), params.sign, appPublic, 'RSA2')).resolves.toBe(true);
  });

  it('gives a WAP link (wap.pay, QUICK_WAP_WAY) and an APP order string (app.pay, no return_url)', async () => {
    const order = await createOrder('1.00');
    const wap = (await server.gql(PAY_LINK, { id: order.id, channel: 'WAP' }, token)).data!.generatePayLink;
    const wapParams = parseForm(new URL(wap.url).search.slice(1));
    expect(wapParams.method).toBe('alipay.trade.wap.pay');
    expect(JSON.parse(wapParams.biz_content).product_code).toBe('QUICK_WAP_WAY');

    const app = (await server.gql(PAY_LINK, { id: order.id, channel: 'APP' }, token)).data!.generatePayLink;
    expect(app.url).toBeNull();
    const appParams = parseForm(app.orderString);
    expect(appParams.method).toBe('alipay.trade.app.pay');
    expect(appParams.return_url).toBeUndefined();
    expect(JSON.parse(appParams.biz_content)).toMatchObject({ product_code: 'QUICK_MSECURITY_PAY', total_amount: '1.00' });
    const appPublic = createPublicKey(server.config.alipay.appPrivateKey);
    await expect(verifyText(canonicalString(appParams, REQUEST_OMIT), appParams.sign, appPublic, 'RSA2')).resolves.toBe(true);
  });

  it('marks the order paid when the verified notify arrives, and records the change in its history', async () => {
    const order = await createOrder('12.34');
    const t = trade(order);
    const reply = await server.notify(await signedNotifyBody(t, server.alipayKey));
    expect(reply).toEqual({ status: 200, text: 'success' });
    const res = await server.gql(ORDER, { id: order.id }, token);
    expect(res.data!.order).toMatchObject({ status: 'TRADE_SUCCESS', tradeNo: t.tradeNo, amount: '12.34' });
    expect(res.data!.order.paidAt).not.toBeNull();
    const events = res.data!.order.events;
    expect(events.map((e: { type: string }) => e.type)).toEqual(['CREATED', 'CALLBACK', 'STATUS_CHANGED']);
    expect(events[1]).toMatchObject({ source: 'NOTIFY' });
    expect(events[1].note).toContain('APPLIED');
    expect(events[2]).toMatchObject({ fromStatus: 'WAIT_BUYER_PAY', toStatus: 'TRADE_SUCCESS', source: 'NOTIFY' });
  });

  it('applies the same notify twice only once, answering success both times', async () => {
    const order = await createOrder('5.00');
    const body = await signedNotifyBody(trade(order), server.alipayKey);
    expect((await server.notify(body)).text).toBe('success');
    expect((await server.notify(body)).text).toBe('success');
    const changes = await query(server.db.url, "select * from order_events where order_id = $1 and type = 'STATUS_CHANGED'", [order.id]);
    expect(changes).toHaveLength(1);
    const verdicts = await query<{ verdict: string }>(server.db.url, 'select verdict from callback_logs where order_id = $1 order by id', [order.id]);
    expect(verdicts.map((v) => v.verdict)).toEqual(['APPLIED', 'DUPLICATE']);
  });

  it('applies 20 concurrent copies of one notify exactly once and answers success to all', async () => {
    const order = await createOrder('20.00');
    const body = await signedNotifyBody(trade(order), server.alipayKey);
    const replies = await Promise.all(Array.from({ length: 20 }, () => server.notify(body)));
    expect(replies.map((r) => r.text)).toEqual(Array(20).fill('success'));
    const changes = await query(server.db.url, "select * from order_events where order_id = $1 and type = 'STATUS_CHANGED'", [order.id]);
    expect(changes).toHaveLength(1);
    const verdicts = await query<{ verdict: string; n: string }>(
      server.db.url,
      'select verdict, count(*)::text as n from callback_logs where order_id = $1 group by verdict order by verdict',
      [order.id],
    );
    expect(verdicts).toEqual([{ verdict: 'APPLIED', n: '1' }, { verdict: 'DUPLICATE', n: '19' }]);
  });

  it('refuses TRADE_CLOSED without a refund after TRADE_SUCCESS, records the refusal, and keeps the order paid', async () => {
    const order = await createOrder('7.00');
    const t = trade(order);
    expect((await server.notify(await signedNotifyBody(t, server.alipayKey))).text).toBe('success');
    const closed = await server.notify(await signedNotifyBody({ ...t, tradeStatus: 'TRADE_CLOSED' }, server.alipayKey));
    expect(closed.text).toBe('success');
    const res = await server.gql(ORDER, { id: order.id }, token);
    expect(res.data!.order.status).toBe('TRADE_SUCCESS');
    const refused = res.data!.order.events.filter((e: { type: string }) => e.type === 'TRANSITION_REFUSED');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ fromStatus: 'TRADE_SUCCESS', toStatus: 'TRADE_CLOSED' });
    expect(refused[0].note).toContain('refunded in full');
  });

  it('moves a paid order on to TRADE_FINISHED, and refuses the late TRADE_SUCCESS that follows', async () => {
    const order = await createOrder('3.00');
    const t = trade(order);
    expect((await server.notify(await signedNotifyBody(t, server.alipayKey))).text).toBe('success');
    expect((await server.notify(await signedNotifyBody({ ...t, tradeStatus: 'TRADE_FINISHED' }, server.alipayKey))).text).toBe('success');
    expect((await server.notify(await signedNotifyBody(t, server.alipayKey))).text).toBe('success');
    const res = await server.gql(ORDER, { id: order.id }, token);
    expect(res.data!.order.status).toBe('TRADE_FINISHED');
  });

  it('makes a second payment of a paid order under another trade_no a payment exception, recorded and logged once however often it is replayed', async () => {
    const order = await createOrder('11.00');
    expect((await server.notify(await signedNotifyBody(trade(order), server.alipayKey))).text).toBe('success');
    const second = trade(order);
    for (let i = 0; i < 4; i++) expect((await server.notify(await signedNotifyBody(second, server.alipayKey))).text).toBe('success');
    const res = await server.gql(ORDER, { id: order.id }, token);
    expect(res.data!.order.tradeNo).not.toBe(second.tradeNo);
    const refused = res.data!.order.events.filter((e: { type: string }) => e.type === 'TRANSITION_REFUSED');
    expect(refused).toHaveLength(1);
    expect(refused[0].note).toContain('paid twice');
    const exceptions = await query<{ trade_no: string; kind: string; amount: string }>(
      server.db.url,
      'select trade_no, kind, amount::text as amount from payment_exceptions where order_id = $1',
      [order.id],
    );
    expect(exceptions).toEqual([{ trade_no: second.tradeNo, kind: 'PAID_TWICE', amount: '11.00' }]);
    expect(server.logs.filter((line) => line.includes('PAYMENT EXCEPTION: a verified') && line.includes(order.orderNo))).toHaveLength(1);
    expect(server.logs.some((line) => line.includes('NEEDS ATTENTION') && line.includes(order.orderNo))).toBe(false);
  });

  it('pays an order from a signed notify whose subject begins with U+FEFF: the value is verified byte-exact', async () => {
    const order = await createOrder('3.30');
    const body = await signedNotifyBody(trade(order, { subject: '\ufeffA cup of tea' }), server.alipayKey);
    expect(body).toContain('subject=%EF%BB%BFA');
    expect((await server.notify(body)).text).toBe('success');
    expect((await server.gql(ORDER, { id: order.id }, token)).data!.order.status).toBe('TRADE_SUCCESS');
  });

  it('answers ORDER_NOT_PAYABLE when a paid order is asked for a pay link', async () => {
    const order = await createOrder('9.99');
    expect((await server.notify(await signedNotifyBody(trade(order), server.alipayKey))).text).toBe('success');
    const res = await server.gql(PAY_LINK, { id: order.id }, token);
    expect(res.data).toBeNull();
    expect(res.errors![0].extensions!.code).toBe('ORDER_NOT_PAYABLE');
    expect(res.errors![0].extensions!.status).toBe('TRADE_SUCCESS');
  });

  it('lists the caller\'s orders newest first with cursor pagination and a status filter', async () => {
    const bob = await server.token('bob-pages');
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const res = await server.gql(CREATE, { input: { amount: `${i}.00`, subject: `item ${i}` } }, bob);
      ids.push(res.data!.createOrder.id);
    }
    const LIST = `query($first: Int, $after: String, $status: OrderStatus) {
      orders(first: $first, after: $after, status: $status) { edges { cursor node { id subject } } pageInfo { hasNextPage endCursor } }
    }`;
    const page1 = (await server.gql(LIST, { first: 2 }, bob)).data!.orders;
    expect(page1.edges.map((e: any) => e.node.id)).toEqual([ids[4], ids[3]]);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const page2 = (await server.gql(LIST, { first: 2, after: page1.pageInfo.endCursor }, bob)).data!.orders;
    expect(page2.edges.map((e: any) => e.node.id)).toEqual([ids[2], ids[1]]);
    const page3 = (await server.gql(LIST, { first: 2, after: page2.pageInfo.endCursor }, bob)).data!.orders;
    expect(page3.edges.map((e: any) => e.node.id)).toEqual([ids[0]]);
    expect(page3.pageInfo.hasNextPage).toBe(false);
    const paid = (await server.gql(LIST, { status: 'TRADE_SUCCESS' }, bob)).data!.orders;
    expect(paid.edges).toEqual([]);
  });

  it('returns the same order for a retried createOrder with the same idempotency key', async () => {
    const input = { amount: '66.00', subject: 'retry me', idempotencyKey: 'checkout-42' };
    const [a, b] = await Promise.all([server.gql(CREATE, { input }, token), server.gql(CREATE, { input }, token)]);
    expect(a.errors).toBeUndefined();
    expect(b.errors).toBeUndefined();
    expect(a.data!.createOrder.id).toBe(b.data!.createOrder.id);
    const again = await server.gql(CREATE, { input }, token);
    expect(again.data!.createOrder.id).toBe(a.data!.createOrder.id);
    const rows = await query(server.db.url, "select id from orders where idempotency_key = 'checkout-42'");
    expect(rows).toHaveLength(1);
  });

  it('refuses the same idempotency key with a different amount as BAD_USER_INPUT', async () => {
    await server.gql(CREATE, { input: { amount: '1.00', subject: 'k', idempotencyKey: 'k-1' } }, token);
    const res = await server.gql(CREATE, { input: { amount: '2.00', subject: 'k', idempotencyKey: 'k-1' } }, token);
    expect(res.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('answers me with the caller, created on first sight, with the roles from the token', async () => {
    const admin = await server.token('carol-admin', ['admin']);
    const res = await server.gql('{ me { id roles createdAt } }', {}, admin);
    expect(res.data!.me).toMatchObject({ id: 'carol-admin', roles: ['admin'] });
    expect(await query(server.db.url, "select id from users where id = 'carol-admin'")).toHaveLength(1);
  });
});
