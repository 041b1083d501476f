import { openCashier, pressPay, waitFor } from '../support/buyer';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

type Line = Record<string, unknown> & { level: string; msg: string };

const CREATE = `mutation CreateTea($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;
const PAY_LINK = `mutation PayLink($id: ID!) { generatePayLink(orderId: $id, channel: PAGE) { url } }`;
const REFUND = `mutation Refund($input: RefundOrderInput!) { refundOrder(input: $input) { status } }`;
const CLOSE = `mutation Close($id: ID!) { closeOrder(orderId: $id) { status } }`;

async function post(server: TestServer, body: Record<string, unknown>, token: string): Promise<any> {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { data?: any; errors?: unknown[] };
  expect(json.errors).toBeUndefined();
  return json.data;
}

const parse = (server: TestServer, from = 0): Line[] => server.logs.slice(from).map((l) => JSON.parse(l) as Line);

describe('logs and metrics an operator can read', () => {
  let server: TestServer;
  let token: string;
  let admin: string;

  beforeAll(async () => {
    server = await startTestServer({ JOBS_ENABLED: 'false' });
    token = await server.token('olga');
    admin = await server.token('root', ['admin']);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('writes one info line per business event — created, pay link, notify verdict, paid, refunded, closed — with the order number and amounts', async () => {
    const from = server.logs.length;
    const { createOrder: order } = await post(server, { query: CREATE, variables: { input: { amount: '12.34', subject: '一壶茶' } } }, token);
    const { generatePayLink: link } = await post(server, { query: PAY_LINK, variables: { id: order.id } }, token);
    const { cashierUrl } = await openCashier(link.url);
    await pressPay(cashierUrl);
    await waitFor('the paid line', async () => parse(server, from).some((l) => l.msg === 'order paid'));
    await post(server, { query: REFUND, variables: { input: { orderId: order.id, amount: '2.34', reason: 'one cup short' } } }, admin);
    await post(server, { query: REFUND, variables: { input: { orderId: order.id, amount: '10.00', reason: 'the rest' } } }, admin);
    await waitFor('the full-refund line', async () => parse(server, from).some((l) => l.msg === 'order closed: refunded in full'));

    const lines = parse(server, from).filter((l) => l.level === 'info' && l.msg !== 'request' && l.orderNo === order.orderNo);
    const byMsg = (msg: string) => lines.filter((l) => l.msg === msg);
    expect(byMsg('order created')).toEqual([expect.objectContaining({ event: 'order.created', amount: '12.34', userId: expect.any(String) })]);
    expect(byMsg('pay link issued')).toEqual([expect.objectContaining({ channel: 'PAGE', amount: '12.34' })]);
    // The payment's notify (the local Alipay's refund notifies follow, and find the refunds already recorded).
    expect(byMsg('notify verdict').filter((l) => l.refundFee === undefined)).toEqual([
      expect.objectContaining({ verdict: 'APPLIED', tradeStatus: 'TRADE_SUCCESS', totalAmount: '12.34' }),
    ]);
    expect(byMsg('order paid')).toEqual([expect.objectContaining({ from: 'WAIT_BUYER_PAY', to: 'TRADE_SUCCESS', source: 'NOTIFY', amount: '12.34', tradeNo: expect.any(String) })]);
    expect(byMsg('order refunded').map((l) => [l.refundedNow, l.refundedAmount])).toEqual([
      ['2.34', '2.34'],
      ['10.00', '12.34'],
    ]);
    expect(byMsg('order closed: refunded in full')).toHaveLength(1);

    const unpaid = (await post(server, { query: CREATE, variables: { input: { amount: '1.00', subject: 'never paid' } } }, token)).createOrder;
    await post(server, { query: CLOSE, variables: { id: unpaid.id } }, token);
    await waitFor('the close line', async () => parse(server, from).some((l) => l.msg === 'order closed' && l.orderNo === unpaid.orderNo));
  });

  it('says "order expired" when the job closes an order whose time ran out', async () => {
    const { createOrder: order } = await post(server, { query: CREATE, variables: { input: { amount: '3.00', subject: 'too late' } } }, token);
    await query(server.db.url, `update orders set expires_at = now() - interval '1 minute' where id = $1`, [order.id]);
    const from = server.logs.length;
    await server.app.services.trades.closeExpired();
    expect(parse(server, from).filter((l) => l.orderNo === order.orderNo && l.msg === 'order expired')).toEqual([
      expect.objectContaining({ level: 'info', from: 'WAIT_BUYER_PAY', to: 'TRADE_CLOSED', source: 'JOB', amount: '3.00' }),
    ]);
  });

  it('writes one line per HTTP request with route, GraphQL operation name, status and duration, and never the query string or a token', async () => {
    const from = server.logs.length;
    await post(server, { query: CREATE, operationName: 'CreateTea', variables: { input: { amount: '1.00', subject: 'x' } } }, token);
    await fetch(`${server.url}/alipay/return?sign=SECRETSIGNATURE&out_trade_no=1`);
    await fetch(`${server.url}/healthz?token=abc`);
    const requests = parse(server, from).filter((l) => l.msg === 'request');
    expect(requests.map((l) => [l.method, l.route, l.status])).toEqual([
      ['POST', '/graphql', 200],
      ['GET', '/alipay/return', 400],
      ['GET', '/healthz', 200],
    ]);
    expect(requests[0]).toMatchObject({ operation: 'CreateTea', operationType: 'mutation', rootField: 'createOrder', ms: expect.any(Number) });
    const all = server.logs.slice(from).join('\n');
    expect(all).not.toContain('SECRETSIGNATURE');
    expect(all).not.toContain(token);
    expect(all).not.toContain('token=abc');
  });

  it('serves prom-client metrics: request histograms by route and operation, callbacks, business events, the pool, the process; the old names stay', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/http_request_duration_seconds_bucket\{le="0\.005",method="POST",route="\/graphql",status="200"\} \d+/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/alipay\/notify",status="200"\} [1-9]/);
    expect(text).toMatch(/graphql_operation_duration_seconds_count\{type="mutation",field="createOrder",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/alipay_callbacks_total\{kind="NOTIFY",verdict="APPLIED"\} [1-9]/);
    expect(text).toMatch(/business_events_total\{type="order\.status_changed\.TRADE_SUCCESS"\} [1-9]/);
    expect(text).toMatch(/business_events_total\{type="order\.refunded"\} 2/);
    expect(text).toMatch(/^db_pool_connections [1-9]/m);
    expect(text).toMatch(/^db_pool_waiting 0/m);
    expect(text).toMatch(/^nodejs_heap_size_total_bytes \d+/m);
    expect(text).toMatch(/^process_cpu_seconds_total [\d.]+/m);
    expect(text).toMatch(/^nodejs_eventloop_delay_ms\{quantile="0\.99"\} [\d.]+/m);
    expect(text).toMatch(/^graphql_subscriptions_active 0/m);
  });

  it('keeps metric labels to a fixed set whatever callers send: unknown paths, methods and operation names add no series', async () => {
    // The series of the service's own metrics (names and labels, without values; prom-client's process metrics aside).
    const series = async () =>
      new Set(
        (await (await fetch(`${server.url}/metrics`)).text())
          .split('\n')
          .filter((l) => l && !l.startsWith('#') && !/^(nodejs_|process_)/.test(l))
          .map((l) => l.slice(0, l.lastIndexOf(' '))),
      );
    const round = async (i: number | string) => {
      await fetch(`${server.url}/nothing/${i}/${Math.random()}`);
      await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `query Op${i}x${Math.random().toString(36).slice(2)} { me { id } }` }),
      });
      await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ nope${i} }` }) });
      await fetch(`${server.url}/graphql`, { method: 'BREW' as string }).catch(() => undefined);
    };
    await round('warmup');
    await series(); // the scrape's own /metrics series
    const before = await series();
    for (let i = 0; i < 30; i++) await round(i);
    const after = await series();
    expect([...after].filter((k) => !before.has(k))).toEqual([]);
    const text = [...after].join('\n');
    expect(text).not.toMatch(/Op\d+x|nope\d|warmup/);
    expect(text).toMatch(/route="other"/);
    expect(text).toMatch(/field="invalid"/);
  });
});

describe('LOG_REQUESTS=false', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ LOG_REQUESTS: 'false', JOBS_ENABLED: 'false' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('writes no request lines but still the business events, and still counts requests in /metrics', async () => {
    const token = await server.token('quiet');
    const from = server.logs.length;
    const { createOrder: order } = await post(server, { query: CREATE, variables: { input: { amount: '5.00', subject: 'quiet' } } }, token);
    await fetch(`${server.url}/healthz`);
    const lines = parse(server, from);
    expect(lines.filter((l) => l.msg === 'request')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'order created' && l.orderNo === order.orderNo)).toHaveLength(1);
    expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} 1/);
  });
});
