import { newTradeNo, signedNotifyBody } from '../../src/sandbox/sandbox.callbacks';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

describe('a notify whose transaction fails', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers failure, keeps the order as it was, still records the callback, and succeeds when Alipay resends', async () => {
    const token = await server.token('frank');
    const order = (await server.gql(`mutation { createOrder(input: { amount: "4.20", subject: "x" }) { id orderNo } }`, {}, token)).data!.createOrder;
    const body = await signedNotifyBody(
      { appId: server.config.alipay.appId, sellerId: server.config.alipay.sellerId!, outTradeNo: order.orderNo, tradeNo: newTradeNo(), totalAmount: '4.20', tradeStatus: 'TRADE_SUCCESS' },
      server.alipayKey,
    );

    // A real database failure inside the notify transaction: the history insert raises.
    await query(server.db.url, `create function fail_history() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`);
    await query(server.db.url, `create trigger fail_history before insert on order_events for each row execute function fail_history()`);
    const failed = await server.notify(body);
    expect(failed).toEqual({ status: 500, text: 'failure' });
    const rows = await query<{ status: string }>(server.db.url, 'select status from orders where id = $1', [order.id]);
    expect(rows[0].status).toBe('WAIT_BUYER_PAY');
    const logs = await query<{ verdict: string; signature_valid: boolean }>(server.db.url, "select verdict, signature_valid from callback_logs where out_trade_no = $1", [order.orderNo]);
    expect(logs).toEqual([{ verdict: 'ERROR', signature_valid: true }]);
    expect(server.logs.some((line) => line.includes('injected failure'))).toBe(true);

    await query(server.db.url, 'drop trigger fail_history on order_events');
    expect(await server.notify(body)).toEqual({ status: 200, text: 'success' });
    const after = await query<{ status: string }>(server.db.url, 'select status from orders where id = $1', [order.id]);
    expect(after[0].status).toBe('TRADE_SUCCESS');
  });
});
