import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import { encodeForm } from '../../src/alipay/alipay.form';
import { CALLBACK_V1_OMIT, canonicalString, signText } from '../../src/alipay/alipay.signer';
import { newTradeNo, notifyFields, signedNotify, signedNotifyBody, type NotifyTrade } from '../../src/sandbox/sandbox.callbacks';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;

/** Posts raw bytes without a Content-Length (chunked), as a hostile client may. */
function postChunked(url: string, chunks: Buffer[], contentType: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': contentType, 'transfer-encoding': 'chunked' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('notifies that must change nothing', () => {
  let server: TestServer;
  let order: { id: string; orderNo: string; amount: string };
  const sentSigns: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    const res = await server.gql(CREATE, { input: { amount: '10.00', subject: 'target' } }, await server.token('victim'));
    order = res.data!.createOrder;
  });
  afterAll(async () => {
    await server?.close();
  });

  const trade = (overrides: Partial<NotifyTrade> = {}): NotifyTrade => ({
    appId: server.config.alipay.appId,
    sellerId: server.config.alipay.sellerId!,
    outTradeNo: order.orderNo,
    tradeNo: newTradeNo(),
    totalAmount: '10.00',
    subject: 'target',
    tradeStatus: 'TRADE_SUCCESS',
    buyerId: '2088000000000002',
    ...overrides,
  });

  async function signed(overrides: Partial<NotifyTrade> = {}, key = server.alipayKey): Promise<Record<string, string>> {
    const fields = await signedNotify(trade(overrides), key);
    sentSigns.push(fields.sign);
    return fields;
  }

  async function expectUnchanged(): Promise<void> {
    const rows = await query<{ status: string; trade_no: string | null }>(server.db.url, 'select status, trade_no from orders where id = $1', [order.id]);
    expect(rows[0]).toEqual({ status: 'WAIT_BUYER_PAY', trade_no: null });
    const changes = await query(server.db.url, "select 1 from order_events where order_id = $1 and type <> 'CREATED'", [order.id]);
    expect(changes).toHaveLength(0);
  }

  async function lastLog(): Promise<{ verdict: string; reason: string; signature_valid: boolean; order_id: string | null; raw: Buffer }> {
    const rows = await query<any>(server.db.url, 'select verdict, reason, signature_valid, order_id, raw from callback_logs order by id desc limit 1');
    return rows[0];
  }

  it('rejects a notify signed by a foreign key and records it unlinked to the order', async () => {
    const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const reply = await server.notify(encodeForm(await signed({}, foreign)));
    expect(reply).toEqual({ status: 200, text: 'failure' });
    expect(await lastLog()).toMatchObject({ verdict: 'REJECTED', signature_valid: false, order_id: null, reason: expect.stringContaining('signature') });
    await expectUnchanged();
  });

  it('rejects a notify edited after signing (total_amount raised)', async () => {
    const fields = await signed({ totalAmount: '0.01' });
    const reply = await server.notify(encodeForm({ ...fields, total_amount: '10.00' }));
    expect(reply.text).toBe('failure');
    await expectUnchanged();
  });

  it('rejects a notify whose signature was removed, emptied or mangled', async () => {
    const fields = await signed();
    for (const sign of [undefined, '', 'AAAA', fields.sign.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))]) {
      expect((await server.notify(encodeForm({ ...fields, sign }))).text).toBe('failure');
    }
    await expectUnchanged();
  });

  it('rejects a notify whose + in sign arrived as a space (not percent-encoded by the sender)', async () => {
    let fields = await signed();
    for (let i = 0; i < 20 && !fields.sign.includes('+'); i++) fields = await signed();
    expect(fields.sign).toContain('+');
    const body = encodeForm(fields).replace(/sign=[^&]+/, `sign=${fields.sign}`);
    expect((await server.notify(body)).text).toBe('failure');
    await expectUnchanged();
  });

  it('rejects a correctly signed notify for another app_id', async () => {
    expect((await server.notify(encodeForm(await signed({ appId: '2021000000000099' })))).text).toBe('failure');
    expect((await lastLog()).reason).toContain('app_id');
    await expectUnchanged();
  });

  it('rejects a correctly signed notify for another seller', async () => {
    expect((await server.notify(encodeForm(await signed({ sellerId: '2088999999999999' })))).text).toBe('failure');
    expect((await lastLog()).reason).toContain('seller_id');
    await expectUnchanged();
  });

  it('rejects a correctly signed notify with a different total_amount, linking the record to the order', async () => {
    for (const amount of ['9.99', '10.01', '100.00', '0.01']) {
      expect((await server.notify(encodeForm(await signed({ totalAmount: amount })))).text).toBe('failure');
    }
    expect(await lastLog()).toMatchObject({ verdict: 'REJECTED', signature_valid: true, order_id: order.id, reason: expect.stringContaining('differs') });
    await expectUnchanged();
  });

  it('rejects a correctly signed notify whose total_amount is not a plain decimal', async () => {
    for (const amount of ['1e1', '10.000', '-10.00', ' 10.00', '10,00']) {
      expect((await server.notify(encodeForm(await signed({ totalAmount: amount })))).text).toBe('failure');
    }
    await expectUnchanged();
  });

  it('rejects a correctly signed notify for an unknown out_trade_no', async () => {
    expect((await server.notify(encodeForm(await signed({ outTradeNo: '20990101000000000000' })))).text).toBe('failure');
    expect((await lastLog()).reason).toContain('not an order of ours');
    await expectUnchanged();
  });

  it('acknowledges a correctly signed WAIT_BUYER_PAY notify without changing the order', async () => {
    expect((await server.notify(encodeForm(await signed({ tradeStatus: 'WAIT_BUYER_PAY' })))).text).toBe('success');
    expect((await lastLog()).verdict).toBe('IGNORED');
    await expectUnchanged();
  });

  it('rejects a correctly signed notify with an unknown trade_status', async () => {
    expect((await server.notify(encodeForm(await signed({ tradeStatus: 'TRADE_PAID' })))).text).toBe('failure');
    await expectUnchanged();
  });

  it('rejects a JSON body with 415 and records it', async () => {
    const json = JSON.stringify(await signed());
    const reply = await server.notify(json, 'application/json');
    expect(reply).toEqual({ status: 415, text: 'failure' });
    const log = await lastLog();
    expect(log.reason).toContain('content type');
    expect(Buffer.from(log.raw).toString()).toBe(json);
    await expectUnchanged();
  });

  it('rejects a body over 64 KB with 413, declared or streamed', async () => {
    const fields = await signed();
    const big = `${encodeForm(fields)}&pad=${'x'.repeat(70 * 1024)}`;
    expect(await server.notify(big)).toEqual({ status: 413, text: 'failure' });
    const streamed = await postChunked(`${server.url}/alipay/notify`, Array.from({ length: 20 }, () => Buffer.alloc(8 * 1024, 0x61)), 'application/x-www-form-urlencoded');
    expect(streamed).toEqual({ status: 413, text: 'failure' });
    expect((await lastLog()).reason).toContain('larger than 65536 bytes');
    await expectUnchanged();
  });

  it('rejects malformed form bodies: bad escapes, duplicates, binary junk, empty', async () => {
    const fields = await signed();
    const body = encodeForm(fields);
    const bodies: Array<string | Buffer> = [
      `${body}&x=%zz`,
      `${body}&total_amount=10.00`,
      Buffer.from([0x00, 0xff, 0xfe, 0x3d, 0x26, 0x00]),
      '',
      '&&&===',
      `${body}&subject=%FF%FE`,
    ];
    for (const b of bodies) {
      const reply = await server.notify(b);
      expect(reply.text).toBe('failure');
    }
    await expectUnchanged();
  });

  it('records a forged notify whose fields hold NUL bytes and control characters', async () => {
    const count = async () => Number((await query<{ n: string }>(server.db.url, 'select count(*)::text as n from callback_logs'))[0].n);
    const before = await count();
    const reply = await server.notify(`out_trade_no=%00x%01&notify_id=%00&trade_status=%7F&total_amount=%00&sign=AAAA`);
    expect(reply.text).toBe('failure');
    expect(await count()).toBe(before + 1);
    expect((await lastLog()).verdict).toBe('REJECTED');
    await expectUnchanged();
  });

  /** A notify with exactly these field values, correctly signed by the local Alipay's key. */
  async function signedWith(changes: Record<string, string>): Promise<string> {
    const fields = { ...notifyFields(trade()), ...changes };
    const sign = await signText(canonicalString(fields, CALLBACK_V1_OMIT), server.alipayKey, 'RSA2');
    sentSigns.push(sign);
    return encodeForm({ ...fields, sign });
  }

  it.each([
    ['out_trade_no', () => `${order.orderNo}\u0000`],
    ['out_trade_no', () => `\u0000${order.orderNo}`],
    ['trade_no', () => `2026112522001\u0000999`],
    ['notify_id', () => 'abc\u0000def'],
    ['buyer_id', () => '2088\u0000'],
    ['out_biz_no', () => 'R\u0000'],
    ['gmt_payment', () => '2026-11-25 10:00:00\u0000'],
    ['trade_status', () => 'TRADE_SUCCESS\u0000'],
    ['total_amount', () => '10.00\u0000'],
    ['refund_fee', () => '1.00\u0001'],
    ['trade_no', () => 'T\u0085C1-control'],
    ['notify_id', () => 'esc\u001b[31m'],
  ])('rejects a correctly signed notify whose %s carries a control character, with 200 failure and no SQL error', async (field, value) => {
    const reply = await server.notify(await signedWith({ [field]: value() }));
    expect(reply).toEqual({ status: 200, text: 'failure' });
    const log = await lastLog();
    expect(log).toMatchObject({ verdict: 'REJECTED', signature_valid: true, order_id: null });
    expect(log.reason).toContain(field);
    await expectUnchanged();
    expect(server.logs.some((l) => l.includes('notify processing failed'))).toBe(false);
  });

  it('keeps serving and then accepts the genuine notify, so nothing above did lasting harm', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).text()).toBe('ok');
    const reply = await server.notify(await signedNotifyBody(trade(), server.alipayKey));
    expect(reply.text).toBe('success');
    const rows = await query<{ status: string }>(server.db.url, 'select status from orders where id = $1', [order.id]);
    expect(rows[0].status).toBe('TRADE_SUCCESS');
  });

  it('recorded every one of those callbacks, and never wrote a signature into the service log', async () => {
    const count = await query<{ n: string }>(server.db.url, 'select count(*)::text as n from callback_logs');
    expect(Number(count[0].n)).toBeGreaterThanOrEqual(25);
    const log = server.logs.join('\n');
    for (const sign of sentSigns) expect(log).not.toContain(sign.slice(0, 40));
  });
});
