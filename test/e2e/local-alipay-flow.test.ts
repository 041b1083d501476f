import { query } from '../support/db';
import { openCashier, parseAutoSubmitForm, pressPay, waitFor } from '../support/buyer';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;
const PAY_LINK = `mutation($id: ID!, $channel: PayChannel) { generatePayLink(orderId: $id, channel: $channel) { channel url formHtml orderString qrCode } }`;
const ORDER = `query($id: ID!) { order(id: $id) { status tradeNo refundedAmount refunds { amount status outRequestNo } events { type fromStatus toStatus source note } } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { id amount status outRequestNo failureReason order { status refundedAmount } } }`;

describe('the whole flow through the local Alipay, over HTTP', () => {
  let server: TestServer;
  let buyer: string;
  let admin: string;

  beforeAll(async () => {
    server = await startTestServer();
    buyer = await server.token('grace');
    admin = await server.token('ops', ['admin']);
  });
  afterAll(async () => {
    await server?.close();
  });

  const create = async (amount: string, subject = 'Green tea, 250 g') =>
    (await server.gql(CREATE, { input: { amount, subject } }, buyer)).data!.createOrder as { id: string; orderNo: string };
  const link = async (id: string, channel: string) => {
    const res = await server.gql(PAY_LINK, { id, channel }, buyer);
    expect(res.errors).toBeUndefined();
    return res.data!.generatePayLink;
  };
  const order = async (id: string, token = buyer) => (await server.gql(ORDER, { id }, token)).data!.order;
  const statusIs = (id: string, status: string) => waitFor(`order ${status}`, async () => (await order(id)).status === status);
  const sandboxTrade = async (outTradeNo: string) => (await (await fetch(`${server.url}/sandbox/alipay/trades/${outTradeNo}`)).json()) as any;

  it('create → PAGE link → cashier Pay → notify → TRADE_SUCCESS → partial refund → full refund → TRADE_CLOSED', async () => {
    const created = await create('100.00');
    const page = await link(created.id, 'PAGE');
    const cashier = await openCashier(page.url);
    expect(cashier.html).toContain('Green tea, 250 g');
    expect(cashier.html).toContain('¥100.00');

    const paid = await pressPay(cashier.cashierUrl);
    expect(paid.status).toBe(303);
    expect(paid.location!.startsWith(`${server.config.publicUrl}/alipay/return?`)).toBe(true);
    const returned = await fetch(paid.location!);
    expect(returned.status).toBe(200);

    await statusIs(created.id, 'TRADE_SUCCESS');
    const trade = await sandboxTrade(created.orderNo);
    expect(trade.status).toBe('TRADE_SUCCESS');
    expect((await order(created.id)).tradeNo).toBe(trade.tradeNo);

    const partial = await server.gql(REFUND, { input: { orderId: created.id, amount: '30.00', reason: '缺货 out of stock' } }, admin);
    expect(partial.errors).toBeUndefined();
    expect(partial.data!.refundOrder).toMatchObject({ amount: '30.00', status: 'SUCCEEDED', order: { status: 'TRADE_SUCCESS', refundedAmount: '30.00' } });

    const full = await server.gql(REFUND, { input: { orderId: created.id, amount: '70.00' } }, admin);
    expect(full.data!.refundOrder).toMatchObject({ amount: '70.00', status: 'SUCCEEDED', order: { status: 'TRADE_CLOSED', refundedAmount: '100.00' } });

    const after = await sandboxTrade(created.orderNo);
    expect(after).toMatchObject({ status: 'TRADE_CLOSED', refundedAmount: '100.00' });
    // Alipay's refund notifies (partial: TRADE_SUCCESS + refund_fee; full: TRADE_CLOSED) reach us and change nothing more.
    await waitFor('all notifies delivered', async () => {
      const t = await sandboxTrade(created.orderNo);
      return t.notifications.length === 3 && t.notifications.every((n: { status: string }) => n.status === 'DELIVERED');
    });
    const final = await order(created.id);
    expect(final).toMatchObject({ status: 'TRADE_CLOSED', refundedAmount: '100.00' });
    expect(final.refunds.map((r: { status: string }) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(final.events.filter((e: { type: string }) => e.type === 'STATUS_CHANGED').map((e: { toStatus: string }) => e.toStatus)).toEqual(['TRADE_SUCCESS', 'TRADE_CLOSED']);
    expect(final.events.filter((e: { type: string }) => e.type === 'TRANSITION_REFUSED')).toEqual([]);
    expect(server.logs.filter((line) => line.includes('PAYMENT NEEDS ATTENTION'))).toEqual([]);
  });

  it('takes the refund notifies in any order: a partial one that arrives after the full refund changes nothing', async () => {
    const created = await create('50.00');
    await pressPay((await openCashier((await link(created.id, 'PAGE')).url)).cashierUrl);
    await statusIs(created.id, 'TRADE_SUCCESS');
    // Hold the partial refund's notify back until the full refund has closed the order.
    await fetch(`${server.url}/sandbox/alipay/scenario`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scenario: 'DELAY_NOTIFY', appId: server.config.alipay.appId, outTradeNo: created.orderNo, delayMs: 800 }),
    });
    await server.gql(REFUND, { input: { orderId: created.id, amount: '20.00' } }, admin);
    await fetch(`${server.url}/sandbox/alipay/scenario?appId=${server.config.alipay.appId}&outTradeNo=${created.orderNo}`, { method: 'DELETE' });
    await server.gql(REFUND, { input: { orderId: created.id, amount: '30.00' } }, admin);
    await waitFor('all notifies delivered', async () => {
      const t = await sandboxTrade(created.orderNo);
      return t.notifications.length === 3 && t.notifications.every((n: { status: string }) => n.status === 'DELIVERED');
    });
    const final = await order(created.id);
    expect(final).toMatchObject({ status: 'TRADE_CLOSED', refundedAmount: '50.00' });
    expect(final.events.filter((e: { type: string }) => e.type === 'TRANSITION_REFUSED')).toEqual([]);
    expect(server.logs.filter((line) => line.includes('PAYMENT NEEDS ATTENTION'))).toEqual([]);
  });

  it('accepts every channel: WAP link, PAGE as a POST form, APP order string, QR code', async () => {
    const wapOrder = await create('1.00');
    const wap = await openCashier((await link(wapOrder.id, 'WAP')).url);
    expect(wap.html).toContain('id="pay"');

    const formOrder = await create('2.00');
    const form = parseAutoSubmitForm((await link(formOrder.id, 'PAGE')).formHtml);
    expect(form.fields.method).toBe('alipay.trade.page.pay');
    const viaForm = await openCashier(form.action, form.fields);
    expect(viaForm.html).toContain('¥2.00');

    const appOrder = await create('3.00');
    const orderString = (await link(appOrder.id, 'APP')).orderString;
    const viaApp = await openCashier(`${server.config.alipay.gatewayUrl}?${orderString}`);
    expect(viaApp.html).toContain('¥3.00');
    const appPaid = await pressPay(viaApp.cashierUrl);
    expect(appPaid.html).toContain('Payment complete'); // app.pay has no return_url
    await statusIs(appOrder.id, 'TRADE_SUCCESS');

    const qrOrder = await create('4.00');
    const qr = await link(qrOrder.id, 'QR');
    expect(qr.qrCode).toMatch(new RegExp(`^${server.config.publicUrl}/sandbox/alipay/cashier/`));
    expect((await fetch(qr.qrCode)).status).toBe(200);
    await pressPay(qr.qrCode);
    await statusIs(qrOrder.id, 'TRADE_SUCCESS');
  });

  it('shows Alipay\'s error page with the string it verified when a link\'s signature is broken', async () => {
    const created = await create('5.00');
    const url = new URL((await link(created.id, 'PAGE')).url);
    url.searchParams.set('biz_content', url.searchParams.get('biz_content')!.replace('"5.00"', '"0.01"'));
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('isv.invalid-signature');
    expect(html).toContain('网关生成的验签字符串为');
    // The string the gateway verified, exactly: escaped once for HTML, so it reads byte for byte as the merchant's own.
    const params = [...url.searchParams.entries()].filter(([k, v]) => k !== 'sign' && v !== '').sort(([a], [b]) => (a < b ? -1 : 1));
    const stringToSign = params.map(([k, v]) => `${k}=${v}`).join('&');
    const shown = html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    expect(shown).toContain(stringToSign);
    expect(html).not.toContain('&amp;amp;');
  });

  it('refunds no more than was paid, also when two refunds race', async () => {
    const created = await create('100.00');
    await pressPay((await openCashier((await link(created.id, 'PAGE')).url)).cashierUrl);
    await statusIs(created.id, 'TRADE_SUCCESS');
    const race = await Promise.all([
      server.gql(REFUND, { input: { orderId: created.id, amount: '60.00' } }, admin),
      server.gql(REFUND, { input: { orderId: created.id, amount: '60.00' } }, admin),
    ]);
    const codes = race.map((r) => r.errors?.[0].extensions?.code ?? r.data!.refundOrder.status).sort();
    // The loser finds the winner pending (REFUND_PENDING) or already done (REFUND_AMOUNT_EXCEEDED): never a second refund.
    expect(codes[1]).toBe('SUCCEEDED');
    expect(['REFUND_AMOUNT_EXCEEDED', 'REFUND_PENDING']).toContain(codes[0]);
    const again = await server.gql(REFUND, { input: { orderId: created.id, amount: '60.00' } }, admin);
    expect(again.errors![0].extensions).toMatchObject({ code: 'REFUND_AMOUNT_EXCEEDED', refundable: '40.00' });
    expect((await sandboxTrade(created.orderNo)).refundedAmount).toBe('60.00');
  });

  it('makes a retried refund the same refund, with the same out_request_no', async () => {
    const created = await create('10.00');
    await pressPay((await openCashier((await link(created.id, 'PAGE')).url)).cashierUrl);
    await statusIs(created.id, 'TRADE_SUCCESS');
    const input = { orderId: created.id, amount: '4.00', idempotencyKey: 'ticket-991' };
    const first = (await server.gql(REFUND, { input }, admin)).data!.refundOrder;
    const second = (await server.gql(REFUND, { input }, admin)).data!.refundOrder;
    expect(second).toMatchObject({ id: first.id, outRequestNo: first.outRequestNo, status: 'SUCCEEDED' });
    expect((await sandboxTrade(created.orderNo)).refunds).toHaveLength(1);
    const other = await server.gql(REFUND, { input: { ...input, amount: '5.00' } }, admin);
    expect(other.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'idempotencyKey' });
  });

  it('lets only admins refund, and only paid orders', async () => {
    const created = await create('10.00');
    expect((await server.gql(REFUND, { input: { orderId: created.id, amount: '1.00' } }, buyer)).errors![0].extensions!.code).toBe('FORBIDDEN');
    expect((await server.gql(REFUND, { input: { orderId: created.id, amount: '1.00' } }, admin)).errors![0].extensions!.code).toBe('ORDER_NOT_REFUNDABLE');
    for (const amount of ['0', '-1.00', '1.001']) {
      expect((await server.gql(REFUND, { input: { orderId: created.id, amount } }, admin)).errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    }
  });

  it('closes an unpaid order at Alipay and here; a trade Alipay never saw is closed here', async () => {
    const opened = await create('6.00');
    await openCashier((await link(opened.id, 'PAGE')).url);
    const CLOSE = `mutation($id: ID!) { closeOrder(orderId: $id) { status } }`;
    expect((await server.gql(CLOSE, { id: opened.id }, buyer)).data!.closeOrder.status).toBe('TRADE_CLOSED');
    expect((await sandboxTrade(opened.orderNo)).status).toBe('TRADE_CLOSED');
    expect((await server.gql(CLOSE, { id: opened.id }, buyer)).data!.closeOrder.status).toBe('TRADE_CLOSED');

    const neverOpened = await create('7.00');
    expect((await server.gql(CLOSE, { id: neverOpened.id }, buyer)).data!.closeOrder.status).toBe('TRADE_CLOSED');
    expect((await server.gql(PAY_LINK, { id: neverOpened.id, channel: 'PAGE' }, buyer)).errors![0].extensions!.code).toBe('ORDER_NOT_PAYABLE');
  });

  it('refuses to close a paid order', async () => {
    const created = await create('8.00');
    await pressPay((await openCashier((await link(created.id, 'PAGE')).url)).cashierUrl);
    await statusIs(created.id, 'TRADE_SUCCESS');
    const res = await server.gql(`mutation($id: ID!) { closeOrder(orderId: $id) { status } }`, { id: created.id }, buyer);
    expect(res.errors![0].extensions).toMatchObject({ code: 'ORDER_NOT_CLOSABLE', status: 'TRADE_SUCCESS' });
  });

  it("answers NOT_FOUND to another user's sync and close", async () => {
    const created = await create('9.00');
    const stranger = await server.token('heidi');
    for (const m of ['syncOrder', 'closeOrder']) {
      const res = await server.gql(`mutation($id: ID!) { ${m}(orderId: $id) { status } }`, { id: created.id }, stranger);
      expect(res.errors![0].extensions!.code).toBe('NOT_FOUND');
    }
    expect((await order(created.id)).status).toBe('WAIT_BUYER_PAY');
  });

  it('keeps every notify delivered with one callback log row per delivery', async () => {
    const rows = await query<{ verdict: string }>(server.db.url, "select verdict from callback_logs where kind = 'NOTIFY'");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((r) => r.verdict === 'REJECTED' || r.verdict === 'ERROR')).toEqual([]);
  });
});
