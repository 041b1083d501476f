import { query } from '../support/db';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`;
const STATUS = `query($id: ID!) { order(id: $id) { status events { source toStatus note } } }`;

describe('the maintenance jobs', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ JOBS_ENABLED: 'true' });
    token = await server.token('leo');
  });
  afterAll(async () => {
    await server?.close();
  });

  const create = async () => (await server.gql(CREATE, { input: { amount: '10.00', subject: 'jobs' } }, token)).data!.createOrder as { id: string; orderNo: string };
  const link = async (id: string) => (await server.gql(PAY_LINK, { id }, token)).data!.generatePayLink.url as string;
  const status = async (id: string) => (await server.gql(STATUS, { id }, token)).data!.order;
  const scenario = (orderNo: string, name: string) =>
    fetch(`${server.url}/sandbox/alipay/scenario`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scenario: name, appId: server.config.alipay.appId, outTradeNo: orderNo }),
    });
  const sandboxStatus = async (orderNo: string) => ((await (await fetch(`${server.url}/sandbox/alipay/trades/${orderNo}`)).json()) as { status: string }).status;

  it('closes expired unpaid orders at Alipay and here, and takes a payment it finds instead', async () => {
    const unpaid = await create();
    await openCashier(await link(unpaid.id));
    const paid = await create();
    await scenario(paid.orderNo, 'DROP_NOTIFY');
    await pressPay((await openCashier(await link(paid.id))).cashierUrl);
    await query(server.db.url, "update orders set expires_at = now() - interval '1 minute' where id = any($1)", [[unpaid.id, paid.id]]);

    expect(await server.app.services.trades.closeExpired()).toBeGreaterThanOrEqual(2);
    expect((await status(unpaid.id)).status).toBe('TRADE_CLOSED');
    expect(await sandboxStatus(unpaid.orderNo)).toBe('TRADE_CLOSED');
    const taken = await status(paid.id);
    expect(taken.status).toBe('TRADE_SUCCESS');
    expect(taken.events.find((e: { toStatus: string }) => e.toStatus === 'TRADE_SUCCESS').source).toBe('JOB');
  });

  it('asks Alipay about unpaid orders whose notify never came', async () => {
    const o = await create();
    await scenario(o.orderNo, 'DROP_NOTIFY');
    await pressPay((await openCashier(await link(o.id))).cashierUrl);
    await query(server.db.url, "update orders set created_at = now() - interval '3 minutes' where id = $1", [o.id]);
    await server.app.services.trades.reconcilePending();
    expect((await status(o.id)).status).toBe('TRADE_SUCCESS');
    const checked = await query<{ checked_at: Date | null }>(server.db.url, 'select checked_at from orders where id = $1', [o.id]);
    expect(checked[0].checked_at).not.toBeNull();
  });

  it('retries a refund left pending while Alipay was busy, with its own out_request_no', async () => {
    const o = await create();
    await pressPay((await openCashier(await link(o.id))).cashierUrl);
    await waitFor('paid', async () => (await status(o.id)).status === 'TRADE_SUCCESS');
    await scenario(o.orderNo, 'BUSY');
    const admin = await server.token('ops', ['admin']);
    const res = await server.gql(`mutation($input: RefundOrderInput!) { refundOrder(input: $input) { status } }`, { input: { orderId: o.id, amount: '10.00' } }, admin);
    expect(res.errors![0].extensions!.code).toBe('ALIPAY_UNAVAILABLE');
    await fetch(`${server.url}/sandbox/alipay/scenario?appId=${server.config.alipay.appId}&outTradeNo=${o.orderNo}`, { method: 'DELETE' });
    await query(server.db.url, "update refunds set updated_at = now() - interval '2 minutes' where order_id = $1", [o.id]);
    expect(await server.app.services.refunds.retryPending()).toBe(1);
    const refunds = await query<{ status: string }>(server.db.url, 'select status from refunds where order_id = $1', [o.id]);
    expect(refunds).toEqual([{ status: 'SUCCEEDED' }]);
    expect((await status(o.id)).status).toBe('TRADE_CLOSED');
  });

  it('runs through pg-boss: scheduled every minute, and a queued run closes an expired order', async () => {
    const schedules = await query<{ name: string; cron: string }>(server.db.url, 'select name, cron from pgboss.schedule');
    expect(schedules).toContainEqual({ name: 'orders-maintenance', cron: '* * * * *' });
    const o = await create();
    await query(server.db.url, "update orders set expires_at = now() - interval '1 minute' where id = $1", [o.id]);
    await server.app.jobs!.trigger();
    await waitFor('closed by the job', async () => (await status(o.id)).status === 'TRADE_CLOSED', 15_000);
  });
});
