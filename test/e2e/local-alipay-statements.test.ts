import * as yauzl from 'yauzl';
import { beijingDate, beijingTime, parseBeijingTime } from '../../src/alipay/alipay.time';
import { openStatement, type StatementRow, type StatementTotals } from '../../src/alipay/alipay.statement';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;
const PAY_LINK = `mutation($id: ID!, $channel: PayChannel) { generatePayLink(orderId: $id, channel: $channel) { url } }`;
const ORDER = `query($id: ID!) { order(id: $id) { status tradeNo } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { amount status outRequestNo } }`;
const CONTROL = 'control-token-0123456789abcdef-statements';

const DAY_MS = 86_400_000;

describe("the local Alipay's statements (对账单), through the service's provider", () => {
  let server: TestServer;
  let buyer: string;
  let admin: string;

  beforeAll(async () => {
    // With a control token, so the statement link is shown to work without one, like gateway.do and the cashier.
    server = await startTestServer({ ALIPAY_GATEWAY: 'sandbox', SANDBOX_CONTROL_TOKEN: CONTROL });
    buyer = await server.token('grace');
    admin = await server.token('ops', ['admin']);
  });
  afterAll(async () => {
    await server?.close();
  });

  const bills = () => `${server.config.publicUrl}/sandbox/alipay/bills/`;

  async function paidOrder(amount: string, subject: string): Promise<{ id: string; orderNo: string; tradeNo: string }> {
    const created = (await server.gql(CREATE, { input: { amount, subject } }, buyer)).data!.createOrder as { id: string; orderNo: string };
    const link = (await server.gql(PAY_LINK, { id: created.id, channel: 'PAGE' }, buyer)).data!.generatePayLink as { url: string };
    await pressPay((await openCashier(link.url)).cashierUrl);
    const order = await waitFor('the order paid', async () => {
      const o = (await server.gql(ORDER, { id: created.id }, buyer)).data!.order as { status: string; tradeNo: string };
      return o.status === 'TRADE_SUCCESS' && o;
    });
    return { ...created, tradeNo: order.tradeNo };
  }

  /** The statement of each Beijing day in the span (one, unless the test runs across midnight in Beijing). */
  async function statements(from: Date, to: Date): Promise<{ rows: StatementRow[]; totals: StatementTotals[]; files: string[] }> {
    const rows: StatementRow[] = [];
    const totals: StatementTotals[] = [];
    const files: string[] = [];
    for (const day of [...new Set([beijingDate(from), beijingDate(to)])]) {
      const answer = await server.app.alipay.billDownloadUrl(day);
      if ('none' in answer) continue;
      expect(answer.url.startsWith(bills())).toBe(true);
      const zip = await server.app.alipay.downloadStatement(answer.url, { maxBytes: 1024 * 1024, timeoutMs: 5000 });
      const statement = await openStatement(zip, { billDate: day });
      expect(statement.account).toBe(`${server.config.alipay.sellerId}0156`);
      files.push(statement.fileName);
      for await (const row of statement.rows) rows.push(row);
      totals.push(statement.totals());
    }
    return { rows, totals, files };
  }

  it("serves the day's paid trades and refunds, exactly as they happened, in Alipay's format", async () => {
    const from = new Date(Date.now() - 1000);
    const tea = await paidOrder('12.34', '龙井, 明前 250g');
    const cent = await paidOrder('0.01', '测试 "quote" 商品');
    const big = await paidOrder('100.00', 'Tea set');
    // Opened at the cashier and never paid: no row.
    const unpaid = (await server.gql(CREATE, { input: { amount: '9.99', subject: 'unpaid' } }, buyer)).data!.createOrder as { id: string };
    await openCashier(((await server.gql(PAY_LINK, { id: unpaid.id, channel: 'PAGE' }, buyer)).data!.generatePayLink as { url: string }).url);
    const refund = (await server.gql(REFUND, { input: { orderId: big.id, amount: '30.00' } }, admin)).data!.refundOrder as { status: string; outRequestNo: string };
    expect(refund.status).toBe('SUCCEEDED');
    const to = new Date(Date.now() + 1000);

    const { rows, totals, files } = await statements(from, to);
    const seller = server.config.alipay.sellerId;
    expect(files).toContain(`${seller}0156_${beijingDate(to).replace(/-/g, '')}_业务明细.csv`);
    const view = (r: StatementRow) => [r.kind, r.tradeNo, r.outTradeNo, r.subject, r.orderAmountFen, r.receivedFen, r.refundRequestNo];
    expect(rows.map(view)).toEqual([
      ['PAYMENT', tea.tradeNo, tea.orderNo, '龙井， 明前 250g', 1234n, 1234n, null],
      ['PAYMENT', cent.tradeNo, cent.orderNo, '测试 ＂quote＂ 商品', 1n, 1n, null],
      ['PAYMENT', big.tradeNo, big.orderNo, 'Tea set', 10000n, 10000n, null],
      ['REFUND', big.tradeNo, big.orderNo, 'Tea set', -3000n, -3000n, refund.outRequestNo],
    ]);
    for (const row of rows) {
      const finished = parseBeijingTime(row.finishedAt!)!;
      expect(finished.getTime()).toBeGreaterThanOrEqual(Math.floor(from.getTime() / 1000) * 1000);
      expect(finished.getTime()).toBeLessThanOrEqual(to.getTime());
      expect(parseBeijingTime(row.createdAt!)!.getTime()).toBeLessThanOrEqual(finished.getTime());
    }
    const sum = (kind: 'payments' | 'refunds') =>
      totals.reduce((a, t) => ({ count: a.count + t[kind].count, receivedFen: a.receivedFen + t[kind].receivedFen! }), { count: 0, receivedFen: 0n });
    expect(sum('payments')).toEqual({ count: 3, receivedFen: 11235n });
    expect(sum('refunds')).toEqual({ count: 1, receivedFen: -3000n });
  });

  it('answers the link as Alipay does: a zip of the detail and the summary, named by user id and day, not cached', async () => {
    const day = beijingDate(new Date());
    const answer = await server.app.alipay.billDownloadUrl(day);
    if ('none' in answer) throw new Error('expected a bill for today');
    const res = await fetch(answer.url);
    expect(res.status).toBe(200);
    const name = `${server.config.alipay.sellerId}0156_${day.replace(/-/g, '')}`;
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${name}.csv.zip"`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const zip = await yauzl.fromBufferPromise(Buffer.from(await res.arrayBuffer()), { lazyEntries: true });
    const entries: string[] = [];
    for await (const entry of zip.eachEntry()) entries.push(entry.fileName);
    expect(entries).toEqual([`${name}_业务明细.csv`, `${name}_业务明细(汇总).csv`]);
  });

  it('expires the link after its time to live (404, like any unknown link)', async () => {
    const statements = server.app.localAlipay!.statements;
    statements.linkTtlMs = 300;
    try {
      const answer = await server.app.alipay.billDownloadUrl(beijingDate(new Date()));
      if ('none' in answer) throw new Error('expected a bill for today');
      expect((await fetch(answer.url)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 400));
      const expired = await fetch(answer.url);
      expect([expired.status, await expired.text()]).toEqual([404, 'not found']);
      await expect(server.app.alipay.downloadStatement(answer.url)).rejects.toMatchObject({ name: 'StatementDownloadError', status: 404 });
    } finally {
      statements.linkTtlMs = 30_000;
    }
  });

  it('has no bill for a day without trades: the day before yesterday, long ago, tomorrow', async () => {
    const now = Date.now();
    for (const day of [beijingDate(new Date(now - 2 * DAY_MS)), '2016-01-01', beijingDate(new Date(now + DAY_MS))]) {
      expect(await server.app.alipay.billDownloadUrl(day)).toEqual({ none: true, subCode: 'isp.bill_not_exist', subMsg: '账单不存在' });
    }
  });

  it('refuses hostile download addresses with the same plain 404, leaking nothing, and needs no control token', async () => {
    // The guard is on: the control API answers 401 without the token.
    expect((await fetch(`${server.url}/sandbox/alipay/apps`)).status).toBe(401);
    const answer = await server.app.alipay.billDownloadUrl(beijingDate(new Date()));
    if ('none' in answer) throw new Error('expected a bill for today');
    const token = answer.url.slice(bills().length, -'.csv.zip'.length);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await fetch(answer.url)).status).toBe(200);

    const base = `${server.url}/sandbox/alipay/bills/`;
    const hostile = [
      `${'A'.repeat(43)}.csv.zip`, // well-formed, unknown
      `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}.csv.zip`, // one character off
      `${token}.zip`,
      `${token}.csv.zip.bak`,
      `${token.toUpperCase() === token ? token.toLowerCase() : token.toUpperCase()}.csv.zip`,
      '..%2F..%2Fpublic-key',
      '%2e%2e%2f%2e%2e%2fgateway.do',
      `${token}.csv.zip%00`,
      "'%20or%201=1--.csv.zip",
      'x'.repeat(8000),
    ];
    for (const path of hostile) {
      const res = await fetch(base + path);
      const text = await res.text();
      expect([path.slice(0, 60), res.status, text]).toEqual([path.slice(0, 60), 404, 'not found']);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    }
    // The real link still works after all that.
    expect((await fetch(answer.url)).status).toBe(200);
  });
});
