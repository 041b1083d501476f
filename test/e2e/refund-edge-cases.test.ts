import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseForm } from '../../src/alipay/alipay.form';
import { parsePrivateKey } from '../../src/alipay/alipay.keys';
import { signText } from '../../src/alipay/alipay.signer';
import { newTradeNo, signedNotifyBody } from '../../src/sandbox/sandbox.callbacks';
import { query } from '../support/db';
import { FIXTURES_DIR, fixtureText } from '../support/fixtures';
import { startTestServer, type TestServer } from '../support/server';

/**
 * Refunds when Alipay answers badly: a gateway scripted per test (the fixtures' "ali" key pair plays Alipay and
 * signs its answers), so the service's refund bookkeeping can be driven through every answer Alipay may give.
 */
const aliKey = parsePrivateKey(fixtureText('python-alipay-sdk/ali/ali_private_key.pem'));
const APP_ID = '2021000000000077';
type Answer = { member?: string; body: Record<string, string>; signed: boolean };

describe('refunds when Alipay answers badly', () => {
  let gateway: http.Server;
  let answer: (method: string, biz: Record<string, string>) => Answer;
  let server: TestServer;
  let admin: string;

  beforeAll(async () => {
    gateway = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        const params = { ...parseForm(Buffer.from(req.url!.split('?')[1] ?? '')), ...parseForm(Buffer.concat(chunks)) };
        const a = answer(params.method, JSON.parse(params.biz_content ?? '{}'));
        const content = JSON.stringify(a.body);
        const member = a.member ?? `${params.method.replace(/\./g, '_')}_response`;
        const text = a.signed ? `{"${member}":${content},"sign":"${await signText(content, aliKey, 'RSA2')}"}` : `{"${member}":${content}}`;
        res.setHeader('content-type', 'application/json');
        res.end(text);
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    server = await startTestServer({
      ALIPAY_GATEWAY: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/gateway.do`,
      ALIPAY_APP_ID: APP_ID,
      ALIPAY_APP_PRIVATE_KEY_PATH: path.join(FIXTURES_DIR, 'python-alipay-sdk/app/app_private_key.pem'),
      ALIPAY_PUBLIC_KEY_PATH: path.join(FIXTURES_DIR, 'python-alipay-sdk/ali/ali_public_key.pem'),
    });
    admin = await server.token('ops', ['admin']);
  });
  afterAll(async () => {
    await server?.close();
    gateway?.close();
  });

  /** A paid order, straight into the database. */
  async function paidOrder(amount = '100.00'): Promise<{ id: string; orderNo: string; tradeNo: string }> {
    const id = randomUUID();
    const orderNo = `E${Date.now()}${Math.floor(Math.random() * 1000)}`;
    const tradeNo = newTradeNo();
    await query(server.db.url, "insert into users (id, created_at) values ('edge', now()) on conflict do nothing");
    await query(
      server.db.url,
      `insert into orders (id, order_no, user_id, subject, amount, status, trade_no, paid_at, refunded_amount, expires_at, created_at, updated_at)
       values ($1, $2, 'edge', 'edge', $3, 'TRADE_SUCCESS', $4, now(), 0, now() + interval '1 day', now(), now())`,
      [id, orderNo, amount, tradeNo],
    );
    return { id, orderNo, tradeNo };
  }
  const refund = (orderId: string, amount: string, idempotencyKey?: string) =>
    server.gql(`mutation($input: RefundOrderInput!) { refundOrder(input: $input) { id status outRequestNo failureReason } }`, { input: { orderId, amount, idempotencyKey } }, admin);
  const refundRows = (orderId: string) => query<{ status: string; out_request_no: string }>(server.db.url, 'select status, out_request_no from refunds where order_id = $1 order by created_at', [orderId]);
  const notify = async (o: { orderNo: string; tradeNo: string }, extra: { tradeStatus: string; refundFee: string; outBizNo: string }, total = '100.00') =>
    server.notify(
      await signedNotifyBody(
        { appId: APP_ID, sellerId: '2088000000000001', outTradeNo: o.orderNo, tradeNo: o.tradeNo, totalAmount: total, tradeStatus: extra.tradeStatus, refundFee: extra.refundFee, outBizNo: extra.outBizNo, refundedAt: new Date() },
        aliKey,
      ),
    );

  it('keeps a refund PENDING (amount still reserved) when Alipay answers a system error', async () => {
    const o = await paidOrder();
    answer = () => ({ body: { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.SYSTEM_ERROR', sub_msg: '系统错误' }, signed: true });
    const res = await refund(o.id, '60.00');
    expect(res.errors![0].extensions!.code).toBe('ALIPAY_UNAVAILABLE');
    expect(await refundRows(o.id)).toEqual([expect.objectContaining({ status: 'PENDING' })]);
    const pending = (await refundRows(o.id))[0] as { status: string; out_request_no: string };
    const second = await refund(o.id, '10.00');
    expect(second.errors![0].extensions).toMatchObject({ code: 'REFUND_PENDING' });
    expect(await refundRows(o.id)).toEqual([pending]);
  });

  it('never pays twice when refundOrder is retried after ALIPAY_UNAVAILABLE, with or without an idempotencyKey', async () => {
    const o = await paidOrder('10.00');
    const asked: string[] = [];
    let busy = true;
    answer = (method, biz): Answer => {
      if (method === 'alipay.trade.refund') asked.push(biz.out_request_no);
      if (busy) return { body: { code: '20000', msg: 'Service Currently Unavailable', sub_code: 'aop.ACQ.SYSTEM_ERROR' }, signed: true };
      return method === 'alipay.trade.refund'
        ? { body: { code: '10000', msg: 'Success', fund_change: 'Y', refund_fee: '3.00' }, signed: true }
        : { body: { code: '10000', msg: 'Success', refund_amount: '3.00', refund_status: 'REFUND_SUCCESS' }, signed: true };
    };
    const first = await refund(o.id, '3.00', 'ticket-7');
    const unavailable = first.errors![0];
    expect(unavailable.extensions).toMatchObject({ code: 'ALIPAY_UNAVAILABLE', refundStatus: 'PENDING' });
    const refundId = unavailable.extensions!.refundId as string;
    expect(unavailable.message).toMatch(/PENDING/);
    expect(unavailable.message).toMatch(/same idempotencyKey/);
    expect(unavailable.message).toMatch(/syncOrder/);
    // The retries a careless client makes: no key, another key, another amount. None starts a second refund.
    for (const retry of [refund(o.id, '3.00'), refund(o.id, '3.00', 'ticket-8'), refund(o.id, '2.00')]) {
      expect((await retry).errors![0].extensions).toMatchObject({ code: 'REFUND_PENDING', refundId });
    }
    busy = false;
    const settled = (await refund(o.id, '3.00', 'ticket-7')).data!.refundOrder;
    expect(settled).toMatchObject({ id: refundId, status: 'SUCCEEDED' });
    expect(await refundRows(o.id)).toEqual([expect.objectContaining({ status: 'SUCCEEDED' })]);
    expect(new Set(asked).size).toBe(1);
    const order = await query<{ refunded_amount: string }>(server.db.url, 'select refunded_amount::text from orders where id = $1', [o.id]);
    expect(order[0].refunded_amount).toBe('3.00');
  });

  it('keeps a refund PENDING when a final-looking refusal is unsigned', async () => {
    const o = await paidOrder();
    answer = () => ({ body: { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_HAS_CLOSE' }, signed: false });
    expect((await refund(o.id, '10.00')).errors![0].extensions!.code).toBe('ALIPAY_UNAVAILABLE');
    expect((await refundRows(o.id))[0].status).toBe('PENDING');
  });

  it('keeps a refund PENDING when Alipay accepted it but the refund query then fails', async () => {
    const o = await paidOrder();
    answer = (method): Answer =>
      method === 'alipay.trade.refund'
        ? { body: { code: '10000', msg: 'Success', fund_change: 'N', refund_fee: '0.00' }, signed: true }
        : { body: { code: '20000', msg: 'Service Currently Unavailable' }, signed: true };
    expect((await refund(o.id, '10.00')).data!.refundOrder.status).toBe('PENDING');
  });

  it('marks a refund FAILED on a verified final refusal, and a later refund notify revives it with an alert', async () => {
    const o = await paidOrder();
    answer = () => ({ body: { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', sub_msg: '退款金额超限' }, signed: true });
    const failed = (await refund(o.id, '30.00')).data!.refundOrder;
    expect(failed).toMatchObject({ status: 'FAILED', failureReason: expect.stringContaining('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL') });
    expect((await notify(o, { tradeStatus: 'TRADE_SUCCESS', refundFee: '30.00', outBizNo: failed.outRequestNo })).text).toBe('success');
    expect((await refundRows(o.id))[0].status).toBe('SUCCEEDED');
    const order = await query<{ refunded_amount: string }>(server.db.url, 'select refunded_amount::text from orders where id = $1', [o.id]);
    expect(order[0].refunded_amount).toBe('30.00');
    expect(server.logs.some((l) => l.includes('REFUND NEEDS ATTENTION') && l.includes(o.orderNo))).toBe(true);
  });

  it('finishes a partly refunded order on a TRADE_FINISHED notify that carries refund_fee', async () => {
    const o = await paidOrder();
    expect((await notify(o, { tradeStatus: 'TRADE_FINISHED', refundFee: '12.00', outBizNo: 'OUTSIDE-1' })).text).toBe('success');
    const order = await query<{ status: string; refunded_amount: string }>(server.db.url, 'select status, refunded_amount::text from orders where id = $1', [o.id]);
    expect(order[0]).toEqual({ status: 'TRADE_FINISHED', refunded_amount: '12.00' });
  });

  it('never lowers refundedAmount, and closes the order when the refunds reach the amount in any order', async () => {
    const o = await paidOrder('100.00');
    expect((await notify(o, { tradeStatus: 'TRADE_SUCCESS', refundFee: '70.00', outBizNo: 'B' })).text).toBe('success');
    expect((await notify(o, { tradeStatus: 'TRADE_SUCCESS', refundFee: '30.00', outBizNo: 'A' })).text).toBe('success');
    let order = await query<{ status: string; refunded_amount: string }>(server.db.url, 'select status, refunded_amount::text from orders where id = $1', [o.id]);
    expect(order[0]).toEqual({ status: 'TRADE_SUCCESS', refunded_amount: '70.00' });
    expect((await notify(o, { tradeStatus: 'TRADE_CLOSED', refundFee: '100.00', outBizNo: 'C' })).text).toBe('success');
    order = await query(server.db.url, 'select status, refunded_amount::text from orders where id = $1', [o.id]);
    expect(order[0]).toEqual({ status: 'TRADE_CLOSED', refunded_amount: '100.00' });
  });
});
