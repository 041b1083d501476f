import { createHash } from 'node:crypto';
import { newTradeNo, signedNotifyBody, signedReturnQuery } from '../../src/sandbox/sandbox.callbacks';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('what unauthenticated callers can make the service store is bounded', () => {
  let server: TestServer;
  let order: { id: string; orderNo: string; amount: string };

  beforeAll(async () => {
    server = await startTestServer();
    order = (await server.gql(CREATE, { input: { amount: '4.20', subject: 'bounded' } }, await server.token('kim'))).data!.createOrder;
  });
  afterAll(async () => {
    await server?.close();
  });

  const last = async () =>
    (
      await query<{ id: string; raw: Buffer; raw_length: number; raw_sha256: string; signature_valid: boolean }>(
        server.db.url,
        'select id, raw, raw_length, raw_sha256, signature_valid from callback_logs order by id desc limit 1',
      )
    )[0];

  it('keeps only the first 4 KB of an unverified notify, with the whole body’s length and SHA-256', async () => {
    const junk = `out_trade_no=${order.orderNo}&sign=AAAA&pad=${'x'.repeat(60_000)}`;
    expect((await server.notify(junk)).text).toBe('failure');
    const row = await last();
    expect(row.signature_valid).toBe(false);
    expect(row.raw.length).toBe(4096);
    expect(row.raw).toEqual(Buffer.from(junk).subarray(0, 4096));
    expect(row.raw_length).toBe(Buffer.byteLength(junk));
    expect(row.raw_sha256).toBe(sha256(junk));
  });

  it('keeps a verified notify whole, byte for byte', async () => {
    const body = await signedNotifyBody(
      {
        appId: server.config.alipay.appId,
        sellerId: server.config.alipay.sellerId!,
        outTradeNo: order.orderNo,
        tradeNo: newTradeNo(),
        totalAmount: order.amount,
        tradeStatus: 'WAIT_BUYER_PAY',
        subject: 'y'.repeat(256),
      },
      server.alipayKey,
    );
    expect((await server.notify(body)).text).toBe('success');
    const row = await last();
    expect(row).toMatchObject({ signature_valid: true, raw_length: Buffer.byteLength(body), raw_sha256: sha256(body) });
    expect(row.raw.toString('utf8')).toBe(body);
  });

  it('records a verified return once, however often the result page reloads itself', async () => {
    const q = await signedReturnQuery(
      { appId: server.config.alipay.appId, sellerId: server.config.alipay.sellerId!, outTradeNo: order.orderNo, tradeNo: newTradeNo(), totalAmount: order.amount },
      server.alipayKey,
    );
    const returns = () => query(server.db.url, `select 1 from callback_logs where order_id = $1 and kind = 'RETURN'`, [order.id]);
    const before = (await returns()).length;
    for (let i = 0; i < 5; i++) expect((await fetch(`${server.url}/alipay/return?${q}`)).status).toBe(200);
    expect((await returns()).length).toBe(before + 1);
  });

  it('deletes unverified callback records past CALLBACK_LOG_RETENTION and keeps verified ones', async () => {
    for (let i = 0; i < 3; i++) await server.notify(`junk=${i}&sign=x`);
    await query(server.db.url, `update callback_logs set received_at = now() - interval '31 days'`);
    const verifiedBefore = await query(server.db.url, 'select id from callback_logs where signature_valid order by id');
    expect(verifiedBefore.length).toBeGreaterThan(0);
    const purged = await server.app.callbacks.purgeUnverified(server.config.callbackLogRetentionMs);
    expect(purged).toBeGreaterThanOrEqual(4);
    expect(await query(server.db.url, 'select 1 from callback_logs where not signature_valid')).toEqual([]);
    expect(await query(server.db.url, 'select id from callback_logs where signature_valid order by id')).toEqual(verifiedBefore);
    // Recent unverified ones stay until their time comes.
    await server.notify('junk=fresh&sign=x');
    expect(await server.app.callbacks.purgeUnverified(server.config.callbackLogRetentionMs)).toBe(0);
  });
});
