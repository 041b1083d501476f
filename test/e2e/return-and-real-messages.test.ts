import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { encodeForm } from '../../src/alipay/alipay.form';
import { newTradeNo, signedReturnQuery } from '../../src/sandbox/sandbox.callbacks';
import { query } from '../support/db';
import { FIXTURES_DIR, fixtureJson, fixtureText } from '../support/fixtures';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;

/** Puts an order with a given out_trade_no straight into the database, as if created earlier. */
async function seedOrder(server: TestServer, orderNo: string, amount: string, subject = 'seeded'): Promise<string> {
  const id = randomUUID();
  await query(server.db.url, "insert into users (id, created_at) values ('seed', now()) on conflict do nothing");
  await query(
    server.db.url,
    `insert into orders (id, order_no, user_id, subject, amount, status, refunded_amount, expires_at, created_at, updated_at)
     values ($1, $2, 'seed', $3, $4, 'WAIT_BUYER_PAY', 0, now() + interval '1 day', now(), now())`,
    [id, orderNo, subject, amount],
  );
  return id;
}

const get = (url: string) => fetch(url, { redirect: 'manual' });

describe('GET /alipay/return', () => {
  let server: TestServer;
  let order: { id: string; orderNo: string; amount: string };

  beforeAll(async () => {
    server = await startTestServer();
    const token = await server.token('erin');
    order = (await server.gql(CREATE, { input: { amount: '3.50', subject: '<script>alert(1)</script>' } }, token)).data!.createOrder;
  });
  afterAll(async () => {
    await server?.close();
  });

  const signedQuery = () =>
    signedReturnQuery(
      { appId: server.config.alipay.appId, sellerId: server.config.alipay.sellerId!, outTradeNo: order.orderNo, tradeNo: newTradeNo(), totalAmount: '3.50' },
      server.alipayKey,
    );

  it('shows our own record of a verified return, escaped, and does not change the order', async () => {
    const res = await get(`${server.url}/alipay/return?${await signedQuery()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('Waiting for Alipay to confirm your payment');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>');
    const rows = await query<{ status: string }>(server.db.url, 'select status from orders where id = $1', [order.id]);
    expect(rows[0].status).toBe('WAIT_BUYER_PAY');
    const logs = await query<{ kind: string; verdict: string }>(server.db.url, 'select kind, verdict from callback_logs where order_id = $1', [order.id]);
    expect(logs).toEqual([{ kind: 'RETURN', verdict: 'IGNORED' }]);
  });

  it('refuses a forged or edited return with 400 and never redirects', async () => {
    const forged = (await signedQuery()).replace('total_amount=3.50', 'total_amount=0.01');
    for (const q of [forged, '', 'out_trade_no=x', '%zz=1', `${await signedQuery()}&sign=dup`]) {
      const res = await get(`${server.url}/alipay/return?${q}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.text()).toContain('could not verify');
    }
  });

  it('refuses a correctly signed return whose out_trade_no carries a NUL byte with 400, never a 500', async () => {
    for (const outTradeNo of [`${order.orderNo}\u0000`, '\u0000', `x\u0007y`]) {
      const q = await signedReturnQuery(
        { appId: server.config.alipay.appId, sellerId: server.config.alipay.sellerId!, outTradeNo, tradeNo: newTradeNo(), totalAmount: '3.50' },
        server.alipayKey,
      );
      const res = await get(`${server.url}/alipay/return?${q}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
    expect(server.logs.some((l) => l.includes('"level":"error"'))).toBe(false);
  });

  it('refuses an oversized query string with 414', async () => {
    const res = await get(`${server.url}/alipay/return?pad=${'x'.repeat(10_000)}`);
    expect(res.status).toBe(414);
  });

  it('redirects to FRONTEND_RETURN_URL with the order id and status when it is set', async () => {
    const other = await startTestServer({ FRONTEND_RETURN_URL: 'https://shop.example.com/paid?from=alipay' });
    try {
      const created = (await other.gql(CREATE, { input: { amount: '1.00', subject: 'x' } }, await other.token('f'))).data!.createOrder;
      const q = await signedReturnQuery(
        { appId: other.config.alipay.appId, sellerId: other.config.alipay.sellerId!, outTradeNo: created.orderNo, tradeNo: newTradeNo(), totalAmount: '1.00' },
        other.alipayKey,
      );
      const res = await get(`${other.url}/alipay/return?${q}`);
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe('https://shop.example.com/paid');
      expect(Object.fromEntries(location.searchParams)).toEqual({ from: 'alipay', orderId: created.id, status: 'WAIT_BUYER_PAY' });
    } finally {
      await other.close();
    }
  });
});

describe('real Alipay-signed messages, end to end', () => {
  it('accepts the real 2019 trade notify for the app it was signed for and pays the order at its gmt_payment', async () => {
    const server = await startTestServer({
      ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do',
      ALIPAY_APP_ID: '2019073166072302',
      ALIPAY_SELLER_ID: '2088531891668739',
      ALIPAY_APP_PRIVATE_KEY_PATH: path.join(FIXTURES_DIR, 'alipay-sdk-nodejs-all/app-private-key.pem'),
      ALIPAY_PUBLIC_KEY_PATH: path.join(FIXTURES_DIR, 'notify-trade-status-sync-2019.alipay-public-key.pem'),
    });
    try {
      const notify = fixtureJson('notify-trade-status-sync-2019.json');
      const id = await seedOrder(server, notify.out_trade_no, '0.10');
      expect(await server.notify(encodeForm(notify))).toEqual({ status: 200, text: 'success' });
      const rows = await query<any>(server.db.url, 'select status, trade_no, buyer_id, paid_at from orders where id = $1', [id]);
      expect(rows[0]).toMatchObject({ status: 'TRADE_SUCCESS', trade_no: '2019081522001468450512505578', buyer_id: '2088102534368455' });
      expect(new Date(rows[0].paid_at).toISOString()).toBe('2019-08-15T07:56:24.000Z');
      // The same message with one space added to the subject is refused.
      const edited = encodeForm({ ...notify, subject: `${notify.subject} ` });
      expect((await server.notify(edited)).text).toBe('failure');
    } finally {
      await server.close();
    }
  });

  it('accepts the real sandbox notify with a literal + in its subject, and its real return_url', async () => {
    const server = await startTestServer({
      ALIPAY_GATEWAY: 'https://openapi-sandbox.dl.alipaydev.com/gateway.do',
      ALIPAY_APP_ID: '9021000122682882',
      ALIPAY_SELLER_ID: '2088721003899159',
      ALIPAY_APP_PRIVATE_KEY_PATH: path.join(FIXTURES_DIR, 'yansongda-pay/alipayAppSecretCert.pem'),
      ALIPAY_PUBLIC_KEY_PATH: path.join(FIXTURES_DIR, 'yansongda-pay/alipayPublicCert.crt'),
    });
    try {
      const notify = fixtureJson('notify-plus-in-subject-yansongda-sandbox-2023.json');
      const paidId = await seedOrder(server, notify.out_trade_no, '0.01', notify.subject);
      expect((await server.notify(encodeForm(notify))).text).toBe('success');
      const rows = await query<{ status: string }>(server.db.url, 'select status from orders where id = $1', [paidId]);
      expect(rows[0].status).toBe('TRADE_SUCCESS');

      const returnQuery = fixtureText('return-url-sync-yansongda-sandbox-2023.txt').trim();
      const returnedId = await seedOrder(server, '1703141270', '0.01');
      const res = await fetch(`${server.url}/alipay/return?${returnQuery}`, { redirect: 'manual' });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('1703141270');
      const after = await query<{ status: string }>(server.db.url, 'select status from orders where id = $1', [returnedId]);
      expect(after[0].status).toBe('WAIT_BUYER_PAY');
    } finally {
      await server.close();
    }
  });

  it('refuses the real notify when the service is configured with another seller id', async () => {
    const server = await startTestServer({
      ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do',
      ALIPAY_APP_ID: '2019073166072302',
      ALIPAY_SELLER_ID: '2088000000000009',
      ALIPAY_APP_PRIVATE_KEY_PATH: path.join(FIXTURES_DIR, 'alipay-sdk-nodejs-all/app-private-key.pem'),
      ALIPAY_PUBLIC_KEY_PATH: path.join(FIXTURES_DIR, 'notify-trade-status-sync-2019.alipay-public-key.pem'),
    });
    try {
      const notify = fixtureJson('notify-trade-status-sync-2019.json');
      const id = await seedOrder(server, notify.out_trade_no, '0.10');
      expect((await server.notify(encodeForm(notify))).text).toBe('failure');
      expect((await query<{ status: string }>(server.db.url, 'select status from orders where id = $1', [id]))[0].status).toBe('WAIT_BUYER_PAY');
    } finally {
      await server.close();
    }
  });
});
