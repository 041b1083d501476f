import { Client } from 'pg';
import { newTradeNo, signedNotifyBody, type NotifyTrade } from '../../src/sandbox/sandbox.callbacks';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount expiresAt } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id, channel: PAGE) { url } }`;
const CLOSE = `mutation($id: ID!) { closeOrder(orderId: $id) { status closedAt } }`;
const ORDER = `query($id: ID!) { order(id: $id) { status tradeNo refundedAmount events { type note } } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { status order { status } } }`;
const EXCEPTIONS = `query($filter: PaymentExceptionFilter, $first: Int, $after: String) {
  paymentExceptions(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id tradeNo amount kind status source reason outRequestNo resolvedBy order { id orderNo status } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const RESOLVE = `mutation($id: ID!, $action: PaymentExceptionAction!) { resolvePaymentException(id: $id, action: $action) { id status resolvedBy } }`;

interface Created {
  id: string;
  orderNo: string;
  amount: string;
}

/** One service with its local Alipay, and the buyer's and admin's view of it. */
async function world(env: Record<string, string> = {}) {
  const server = await startTestServer(env);
  const buyer = await server.token('hana');
  const admin = await server.token('ops', ['admin']);
  const create = async (amount = '20.00'): Promise<Created> => (await server.gql(CREATE, { input: { amount, subject: 'late tea' } }, buyer)).data!.createOrder;
  const payUrl = async (id: string): Promise<string> => (await server.gql(PAY_LINK, { id }, buyer)).data!.generatePayLink.url;
  const order = async (id: string) => (await server.gql(ORDER, { id }, buyer)).data!.order;
  const sandboxTrade = async (orderNo: string) => (await (await fetch(`${server.url}/sandbox/alipay/trades/${orderNo}`)).json()) as any;
  const exceptions = (orderId: string) =>
    query<{ id: string; kind: string; status: string; trade_no: string; amount: string; out_request_no: string }>(
      server.db.url,
      'select id, kind, status, trade_no, amount::text as amount, out_request_no from payment_exceptions where order_id = $1',
      [orderId],
    );
  /** Closes the order while the buyer has a pay link they have not opened yet: Alipay has no trade. */
  const closedBeforeCashier = async (amount?: string) => {
    const created = await create(amount);
    const url = await payUrl(created.id);
    const closed = await server.gql(CLOSE, { id: created.id }, buyer);
    expect(closed.data!.closeOrder.status).toBe('TRADE_CLOSED');
    return { created, url };
  };
  const notifyAs = async (created: Created, tradeNo: string, overrides: Partial<NotifyTrade> = {}) =>
    server.notify(
      await signedNotifyBody(
        {
          appId: server.config.alipay.appId,
          sellerId: server.config.alipay.sellerId!,
          outTradeNo: created.orderNo,
          tradeNo,
          totalAmount: created.amount,
          tradeStatus: 'TRADE_SUCCESS',
          buyerId: '2088000000000002',
          ...overrides,
        },
        server.alipayKey,
      ),
    );
  const exceptionLines = (orderNo: string) => server.logs.filter((l) => l.includes('PAYMENT EXCEPTION: a verified') && l.includes(orderNo));
  return { server, buyer, admin, create, payUrl, order, sandboxTrade, exceptions, closedBeforeCashier, notifyAs, exceptionLines };
}

describe('a close cannot strand money (AUTO_REFUND_UNWANTED_PAYMENTS=true, the default)', () => {
  let w: Awaited<ReturnType<typeof world>>;
  beforeAll(async () => {
    w = await world();
  });
  afterAll(async () => {
    await w?.server.close();
  });

  it('closes here when Alipay has no trade yet, and remembers to close at Alipay until the pay link expires', async () => {
    const { created } = await w.closedBeforeCashier();
    const rows = await query<{ alipay_close_until: Date; expires_at: Date }>(w.server.db.url, 'select alipay_close_until, expires_at from orders where id = $1', [created.id]);
    expect(rows[0].alipay_close_until.getTime()).toBeGreaterThan(rows[0].expires_at.getTime());
    expect((await w.order(created.id)).events.some((e: { note: string | null }) => e.note?.includes('closed again at Alipay until the pay link expires'))).toBe(true);
  });

  it('refunds in full, exactly once, a buyer who pays through the still-live link after the close', async () => {
    const { created, url } = await w.closedBeforeCashier('20.00');
    const cashier = await openCashier(url); // Alipay creates the trade only now, as the buyer opens the link
    await pressPay(cashier.cashierUrl);
    const refunded = await waitFor('the payment exception refunded', async () => {
      const rows = await w.exceptions(created.id);
      return rows.length === 1 && rows[0].status === 'REFUNDED' ? rows[0] : null;
    });
    const trade = await w.sandboxTrade(created.orderNo);
    expect(refunded).toMatchObject({ kind: 'PAID_AFTER_CLOSE', trade_no: trade.tradeNo, amount: '20.00' });
    expect(trade.refundedAmount).toBe('20.00');
    expect(trade.refunds).toEqual([expect.objectContaining({ outRequestNo: refunded.out_request_no, amount: '20.00' })]);
    // The order itself never took the money: still closed, nothing refunded from it.
    expect(await w.order(created.id)).toMatchObject({ status: 'TRADE_CLOSED', tradeNo: null, refundedAmount: '0.00' });

    // Alipay resends, a replay, a second instance's view: the same trade, reported again and again.
    for (let i = 0; i < 3; i++) expect((await w.notifyAs(created, trade.tradeNo)).text).toBe('success');
    await new Promise((r) => setTimeout(r, 300));
    expect(await w.exceptions(created.id)).toHaveLength(1);
    expect((await w.sandboxTrade(created.orderNo)).refunds).toHaveLength(1);
    expect(w.exceptionLines(created.orderNo)).toHaveLength(1);
    const metrics = await (await fetch(`${w.server.url}/metrics`)).text();
    expect(metrics).toMatch(/alipay_payment_exceptions_total\{kind="PAID_AFTER_CLOSE"\} [1-9]/);
  });

  it('keeps closing at Alipay: the job closes the trade a buyer opened after the close, so it cannot be paid', async () => {
    const { created, url } = await w.closedBeforeCashier();
    const cashier = await openCashier(url);
    expect((await w.sandboxTrade(created.orderNo)).status).toBe('WAIT_BUYER_PAY');
    await w.server.app.services.trades.repeatCloses(50, 0);
    expect((await w.sandboxTrade(created.orderNo)).status).toBe('TRADE_CLOSED');
    await pressPay(cashier.cashierUrl);
    await new Promise((r) => setTimeout(r, 300));
    expect((await w.sandboxTrade(created.orderNo)).paidAt ?? null).toBeNull();
    expect(await w.exceptions(created.id)).toEqual([]);
    const rows = await query<{ alipay_close_until: Date | null }>(w.server.db.url, 'select alipay_close_until from orders where id = $1', [created.id]);
    expect(rows[0].alipay_close_until).toBeNull();
  });

  it('stops repeating a close once the pay link has expired and Alipay still has no trade', async () => {
    const { created } = await w.closedBeforeCashier();
    await w.server.app.services.trades.repeatCloses(50, 0);
    let rows = await query<{ alipay_close_until: Date | null }>(w.server.db.url, 'select alipay_close_until from orders where id = $1', [created.id]);
    expect(rows[0].alipay_close_until).not.toBeNull(); // the link is still live: keep trying
    await query(w.server.db.url, "update orders set alipay_close_until = now() - interval '1 second' where id = $1", [created.id]);
    await w.server.app.services.trades.repeatCloses(50, 0);
    rows = await query(w.server.db.url, 'select alipay_close_until from orders where id = $1', [created.id]);
    expect(rows[0].alipay_close_until).toBeNull();
  });

  it('shows payment exceptions to admins only, filtered by order number and status, a page at a time', async () => {
    const { created, url } = await w.closedBeforeCashier('7.00');
    await pressPay((await openCashier(url)).cashierUrl);
    await waitFor('refunded', async () => (await w.exceptions(created.id))[0]?.status === 'REFUNDED');
    const mine = await w.server.gql(EXCEPTIONS, { filter: { orderNo: created.orderNo } }, w.admin);
    expect(mine.errors).toBeUndefined();
    expect(mine.data!.paymentExceptions.edges).toEqual([
      {
        cursor: expect.any(String),
        node: expect.objectContaining({ kind: 'PAID_AFTER_CLOSE', status: 'REFUNDED', amount: '7.00', source: 'NOTIFY', order: { id: created.id, orderNo: created.orderNo, status: 'TRADE_CLOSED' } }),
      },
    ]);
    const refunded = await w.server.gql(EXCEPTIONS, { filter: { status: 'REFUNDED' }, first: 1 }, w.admin);
    expect(refunded.data!.paymentExceptions.edges).toHaveLength(1);
    expect(refunded.data!.paymentExceptions.pageInfo.hasNextPage).toBe(true);
    const next = await w.server.gql(EXCEPTIONS, { filter: { status: 'REFUNDED' }, first: 1, after: refunded.data!.paymentExceptions.pageInfo.endCursor }, w.admin);
    expect(next.data!.paymentExceptions.edges[0].node.id).not.toBe(refunded.data!.paymentExceptions.edges[0].node.id);
    expect((await w.server.gql(EXCEPTIONS, { filter: { status: 'OPEN' } }, w.admin)).data!.paymentExceptions.edges).toEqual([]);

    expect((await w.server.gql(EXCEPTIONS, {}, w.buyer)).errors![0].extensions!.code).toBe('FORBIDDEN');
    expect((await w.server.gql(EXCEPTIONS, {}, null)).errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    for (const [variables, field] of [
      [{ first: 0 }, 'first'],
      [{ first: 101 }, 'first'],
      [{ after: 'not a cursor!' }, 'after'],
      [{ filter: { orderNo: 'x'.repeat(65) } }, 'orderNo'],
    ] as const) {
      expect((await w.server.gql(EXCEPTIONS, variables, w.admin)).errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
  });
});

describe('replays are duplicates, quietly', () => {
  let w: Awaited<ReturnType<typeof world>>;
  beforeAll(async () => {
    w = await world();
  });
  afterAll(async () => {
    await w?.server.close();
  });

  it('answers replays of the original TRADE_SUCCESS after a full refund as duplicates, with no alert and no exception', async () => {
    const created = await w.create('15.00');
    await pressPay((await openCashier(await w.payUrl(created.id))).cashierUrl);
    await waitFor('paid', async () => (await w.order(created.id)).status === 'TRADE_SUCCESS');
    const refund = await w.server.gql(REFUND, { input: { orderId: created.id, amount: '15.00' } }, w.admin);
    expect(refund.data!.refundOrder).toMatchObject({ status: 'SUCCEEDED', order: { status: 'TRADE_CLOSED' } });
    const { tradeNo } = await w.order(created.id);
    for (let i = 0; i < 5; i++) expect((await w.notifyAs(created, tradeNo)).text).toBe('success');
    const verdicts = await query<{ verdict: string }>(
      w.server.db.url,
      `select verdict from callback_logs where order_id = $1 and trade_status = 'TRADE_SUCCESS' and reason is distinct from null order by id desc limit 5`,
      [created.id],
    );
    expect(verdicts.map((v) => v.verdict)).toEqual(Array(5).fill('DUPLICATE'));
    expect(await w.exceptions(created.id)).toEqual([]);
    expect(w.server.logs.some((l) => /PAYMENT|ATTENTION/.test(l) && l.includes(created.orderNo))).toBe(false);
    expect((await w.order(created.id)).events.filter((e: { type: string }) => e.type === 'TRANSITION_REFUSED')).toEqual([]);
  });

  it('answers a notify whose notify_id was already processed as a duplicate without running the state machine again', async () => {
    const created = await w.create('16.00');
    const tradeNo = newTradeNo();
    expect((await w.notifyAs(created, tradeNo, { notifyId: 'N-already-seen-1' })).text).toBe('success');
    // The same notify_id again, even carrying another status, is that notify resent: nothing runs.
    expect((await w.notifyAs(created, tradeNo, { notifyId: 'N-already-seen-1', tradeStatus: 'TRADE_FINISHED' })).text).toBe('success');
    expect((await w.order(created.id)).status).toBe('TRADE_SUCCESS');
    const last = await query<{ verdict: string; reason: string }>(w.server.db.url, 'select verdict, reason from callback_logs where order_id = $1 order by id desc limit 1', [created.id]);
    expect(last[0]).toEqual({ verdict: 'DUPLICATE', reason: 'notify_id already processed' });
    // Another notify_id with the new status does move it.
    expect((await w.notifyAs(created, tradeNo, { tradeStatus: 'TRADE_FINISHED' })).text).toBe('success');
    expect((await w.order(created.id)).status).toBe('TRADE_FINISHED');
  });

  it('looks the notify_id up by index, not by scanning the callback log', async () => {
    const client = new Client({ connectionString: w.server.db.url });
    await client.connect();
    try {
      // The planner prefers a scan on a tiny table; forbidding scans shows an index can answer the lookup.
      await client.query('begin');
      await client.query('set local enable_seqscan = off');
      const plan = await client.query(
        `explain select 1 from callback_logs where notify_id = 'x' and order_id = '00000000-0000-0000-0000-000000000000' and signature_valid limit 1`,
      );
      await client.query('rollback');
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index (Scan|Cond).*|callback_logs_notify_id_idx/);
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).not.toMatch(/Seq Scan/);
    } finally {
      await client.end();
    }
  });
});

describe('an unwanted payment waits for an admin (AUTO_REFUND_UNWANTED_PAYMENTS=false)', () => {
  let w: Awaited<ReturnType<typeof world>>;
  beforeAll(async () => {
    w = await world({ AUTO_REFUND_UNWANTED_PAYMENTS: 'false' });
  });
  afterAll(async () => {
    await w?.server.close();
  });

  const paidAfterClose = async () => {
    const { created, url } = await w.closedBeforeCashier('9.00');
    await pressPay((await openCashier(url)).cashierUrl);
    const [exception] = await waitFor('an open exception', async () => {
      const rows = await w.exceptions(created.id);
      return rows.length ? rows : null;
    });
    return { created, exception };
  };

  it('keeps the exception OPEN and moves no money until an admin says REFUND; then refunds it once', async () => {
    const { created, exception } = await paidAfterClose();
    expect(exception.status).toBe('OPEN');
    await new Promise((r) => setTimeout(r, 200));
    expect((await w.sandboxTrade(created.orderNo)).refunds).toEqual([]);
    expect((await w.server.gql(RESOLVE, { id: exception.id, action: 'REFUND' }, w.buyer)).errors![0].extensions!.code).toBe('FORBIDDEN');
    const resolved = await w.server.gql(RESOLVE, { id: exception.id, action: 'REFUND' }, w.admin);
    expect(resolved.data!.resolvePaymentException).toEqual({ id: exception.id, status: 'REFUNDED', resolvedBy: 'ops' });
    const again = await w.server.gql(RESOLVE, { id: exception.id, action: 'REFUND' }, w.admin);
    expect(again.errors![0].extensions).toMatchObject({ code: 'PAYMENT_EXCEPTION_RESOLVED', status: 'REFUNDED' });
    expect((await w.sandboxTrade(created.orderNo)).refunds).toHaveLength(1);
  });

  it('lets an admin KEEP the money; a kept payment cannot be refunded later by mistake', async () => {
    const { created, exception } = await paidAfterClose();
    const kept = await w.server.gql(RESOLVE, { id: exception.id, action: 'KEEP' }, w.admin);
    expect(kept.data!.resolvePaymentException).toMatchObject({ status: 'KEPT', resolvedBy: 'ops' });
    expect((await w.server.gql(RESOLVE, { id: exception.id, action: 'KEEP' }, w.admin)).data!.resolvePaymentException.status).toBe('KEPT');
    expect((await w.server.gql(RESOLVE, { id: exception.id, action: 'REFUND' }, w.admin)).errors![0].extensions!.code).toBe('PAYMENT_EXCEPTION_RESOLVED');
    expect((await w.sandboxTrade(created.orderNo)).refunds).toEqual([]);
  });

  it('answers NOT_FOUND for an unknown or malformed exception id and BAD_USER_INPUT for an unknown action', async () => {
    expect((await w.server.gql(RESOLVE, { id: '00000000-0000-4000-8000-000000000000', action: 'KEEP' }, w.admin)).errors![0].extensions!.code).toBe('NOT_FOUND');
    expect((await w.server.gql(RESOLVE, { id: "'; drop table orders; --", action: 'KEEP' }, w.admin)).errors![0].extensions!.code).toBe('NOT_FOUND');
    const bad = await w.server.gql(RESOLVE, { id: '00000000-0000-4000-8000-000000000000', action: 'SHRED' }, w.admin);
    expect(bad.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
  });
});
