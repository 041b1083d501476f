import { openCashier, pressPay, waitFor } from '../support/buyer';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';
import { beijingDate } from '../../src/alipay/alipay.time';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id, channel: PAGE) { url } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { status outRequestNo } }`;
const RECONCILE = `mutation($date: String!) {
  reconcile(date: $date) { id billDate status trigger statementRows matched missingHere missingAtAlipay amountMismatches error
    lines { kind entry outTradeNo tradeNo refundRequestNo oursAmount alipayAmount detail action } }
}`;

describe("daily reconciliation against the local Alipay's statement", () => {
  let server: TestServer;
  let token: string;
  let admin: string;
  const orders: Array<{ id: string; orderNo: string; amount: string }> = [];

  beforeAll(async () => {
    server = await startTestServer();
    token = await server.token('reconciled-buyer');
    admin = await server.token('finance', ['admin']);
  });
  afterAll(async () => {
    await server?.close();
  });

  const scenario = (orderNo: string, name: string) =>
    fetch(`${server.url}/sandbox/alipay/scenario`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scenario: name, appId: server.config.alipay.appId, outTradeNo: orderNo }),
    });
  const status = async (id: string) => (await query<{ status: string }>(server.db.url, `select status from orders where id = $1`, [id]))[0].status;

  it('finds the dropped notify (and takes the payment), the hand-edited amount, matches the refund and the rest — and a second run changes nothing', async () => {
    for (let i = 0; i < 5; i++) {
      const order = (await server.gql(CREATE, { input: { amount: `${10 + i}.00`, subject: `对账 ${i}` } }, token)).data!.createOrder;
      orders.push(order);
      if (i === 0) await scenario(order.orderNo, 'DROP_NOTIFY');
      const link = (await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink;
      await pressPay((await openCashier(link.url)).cashierUrl);
    }
    await waitFor('four notifies', async () => (await Promise.all(orders.slice(1).map((o) => status(o.id)))).every((s) => s === 'TRADE_SUCCESS'));
    expect(await status(orders[0].id)).toBe('WAIT_BUYER_PAY');
    const refund = (await server.gql(REFUND, { input: { orderId: orders[1].id, amount: '3.00', reason: 'one cup short' } }, admin)).data!.refundOrder;
    expect(refund.status).toBe('SUCCEEDED');
    await query(server.db.url, `update orders set amount = 99.99 where id = $1`, [orders[2].id]); // by hand, behind the service's back

    const today = beijingDate(new Date());
    const first = await server.gql(RECONCILE, { date: today }, admin);
    expect(first.errors).toBeUndefined();
    const report = first.data!.reconcile;
    expect(report).toMatchObject({ billDate: today, status: 'COMPLETED', trigger: 'ADMIN', statementRows: 6, matched: 4, missingHere: 1, missingAtAlipay: 0, amountMismatches: 1, error: null });
    expect(report.lines).toEqual([
      expect.objectContaining({ kind: 'MISSING_HERE', entry: 'PAYMENT', outTradeNo: orders[0].orderNo, oursAmount: '10.00', alipayAmount: '10.00', action: 'queried Alipay and applied it: WAIT_BUYER_PAY → TRADE_SUCCESS' }),
      expect.objectContaining({ kind: 'AMOUNT_MISMATCH', entry: 'PAYMENT', outTradeNo: orders[2].orderNo, oursAmount: '99.99', alipayAmount: '12.00', detail: 'order amount 99.99 here, 12.00 in the statement' }),
    ]);
    // The missing payment is taken here, through the verified query, with its history row.
    expect(await status(orders[0].id)).toBe('TRADE_SUCCESS');
    const history = async () => query<{ to_status: string; source: string }>(server.db.url, `select to_status, source from order_events where order_id = $1 and type = 'STATUS_CHANGED'`, [orders[0].id]);
    expect(await history()).toEqual([{ to_status: 'TRADE_SUCCESS', source: 'JOB' }]);

    const second = (await server.gql(RECONCILE, { date: today }, admin)).data!.reconcile;
    expect(second).toMatchObject({ status: 'COMPLETED', statementRows: 6, matched: 5, missingHere: 0, missingAtAlipay: 0, amountMismatches: 1 });
    expect(await history()).toHaveLength(1);
    const listed = await server.gql(`{ reconciliationReports(first: 5) { edges { node { id status matched } } } }`, {}, admin);
    expect(listed.data!.reconciliationReports.edges.map((e: any) => e.node.id)).toEqual([second.id, report.id]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/reconciliation_mismatches_total\{kind="AMOUNT_MISMATCH"\} 2/);
    expect(metrics).toMatch(/reconciliation_mismatches_total\{kind="MISSING_HERE"\} 1/);
    // Logged (and sent as webhooks) once: the second run found nothing new.
    expect(server.logs.filter((l) => l.includes('RECONCILIATION MISMATCH'))).toHaveLength(2);
  });

  it('finds a payment we recorded that the statement does not have', async () => {
    const today = beijingDate(new Date());
    // An order marked paid here by hand: Alipay never took the money.
    const ghost = (await server.gql(CREATE, { input: { amount: '7.00', subject: 'ghost' } }, token)).data!.createOrder;
    await query(server.db.url, `update orders set status = 'TRADE_SUCCESS', trade_no = '2026000000000000000000000001', paid_at = now() where id = $1`, [ghost.id]);
    const report = (await server.gql(RECONCILE, { date: today }, admin)).data!.reconcile;
    expect(report.missingAtAlipay).toBe(1);
    expect(report.lines.filter((l: any) => l.kind === 'MISSING_AT_ALIPAY')).toEqual([
      expect.objectContaining({ entry: 'PAYMENT', outTradeNo: ghost.orderNo, oursAmount: '7.00', alipayAmount: null }),
    ]);
  });

  it('answers a day without a statement as NO_STATEMENT, and refuses bad dates, future days and non-admins', async () => {
    const none = (await server.gql(RECONCILE, { date: '2020-01-01' }, admin)).data!.reconcile;
    expect(none).toMatchObject({ status: 'NO_STATEMENT', statementRows: 0, error: expect.stringMatching(/bill_not_exist/) });
    for (const date of ['2026-13-01', '2026-02-30', 'yesterday', '2026-1-1', "2026-01-01'; drop table orders; --", '9999-12-31']) {
      const res = await server.gql(RECONCILE, { date }, admin);
      expect([date, res.errors?.[0].extensions?.code]).toEqual([date, 'BAD_USER_INPUT']);
    }
    expect((await server.gql(RECONCILE, { date: '2020-01-01' }, token)).errors?.[0].extensions?.code).toBe('FORBIDDEN');
    expect((await server.gql(`{ reconciliationReports { edges { node { id } } } }`, {}, token)).errors?.[0].extensions?.code).toBe('FORBIDDEN');
  });

  it('runs once a day after RECONCILE_AT for yesterday, and not again once done', async () => {
    const reconciliation = server.app.services.reconciliation;
    const now = new Date();
    // Before 10:00 Beijing: nothing.
    const beijingMidnight = new Date(`${beijingDate(now)}T00:00:00+08:00`); // today's, in Beijing (not the UTC day)
    expect(await reconciliation.runDaily(600, new Date(beijingMidnight.getTime() + 9 * 3_600_000))).toBeNull();
    const at = new Date(beijingMidnight.getTime() + 11 * 3_600_000);
    const first = await reconciliation.runDaily(600, at);
    expect(first).toMatchObject({ trigger: 'JOB', billDate: beijingDate(new Date(at.getTime() - 86_400_000)) });
    expect(await reconciliation.runDaily(600, at)).toBeNull();
  });

  it('asks again for a late statement of a day on which we recorded payments, at most every 10 minutes', async () => {
    const reconciliation = server.app.services.reconciliation;
    const now = new Date();
    const beijingMidnight = new Date(`${beijingDate(now)}T00:00:00+08:00`); // today's, in Beijing (not the UTC day)
    const at = new Date(beijingMidnight.getTime() + 2 * 86_400_000 + 11 * 3_600_000); // the day after tomorrow, 11:00
    const day = beijingDate(new Date(at.getTime() - 86_400_000));
    // A payment recorded on that day, which Alipay has no statement for (yet).
    await query(server.db.url, `update orders set paid_at = $1 where id = $2`, [new Date(beijingMidnight.getTime() + 86_400_000 + 3_600_000), orders[3].id]);
    expect(await reconciliation.runDaily(600, at)).toMatchObject({ billDate: day, status: 'NO_STATEMENT' });
    expect(await reconciliation.runDaily(600, at)).toBeNull(); // not again at once
    await query(server.db.url, `update reconciliation_reports set created_at = now() - interval '11 minutes' where bill_date = $1`, [day]);
    expect(await reconciliation.runDaily(600, at)).toMatchObject({ billDate: day, status: 'NO_STATEMENT' });
  });
});

describe('reconciliation and a payment the order could not take', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('records a payment made after the order closed here, whose notify was lost, as a payment exception', async () => {
    const token = await server.token('late-payer');
    const admin = await server.token('finance', ['admin']);
    const order = (await server.gql(CREATE, { input: { amount: '6.00', subject: 'closed, then paid' } }, token)).data!.createOrder;
    const link = (await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink;
    expect((await server.gql(`mutation($id: ID!) { closeOrder(orderId: $id) { status } }`, { id: order.id }, token)).data!.closeOrder.status).toBe('TRADE_CLOSED');
    await fetch(`${server.url}/sandbox/alipay/scenario`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scenario: 'DROP_NOTIFY', appId: server.config.alipay.appId, outTradeNo: order.orderNo }),
    });
    await pressPay((await openCashier(link.url)).cashierUrl); // the buyer pays through the link still open at Alipay
    expect(await query(server.db.url, `select id from payment_exceptions`)).toEqual([]);

    const report = (await server.gql(RECONCILE, { date: beijingDate(new Date()) }, admin)).data!.reconcile;
    expect(report).toMatchObject({ status: 'COMPLETED', statementRows: 1, missingHere: 1 });
    expect(report.lines).toEqual([
      expect.objectContaining({ kind: 'MISSING_HERE', outTradeNo: order.orderNo, action: 'queried Alipay: PAID_AFTER_CLOSE, recorded as a payment exception' }),
    ]);
    const [exception] = await query<{ kind: string; amount: string }>(server.db.url, `select kind, amount::text as amount from payment_exceptions`);
    expect(exception).toEqual({ kind: 'PAID_AFTER_CLOSE', amount: '6.00' });
  });
});

