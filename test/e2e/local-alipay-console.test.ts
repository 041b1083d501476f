import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, SCREENSHOTS } from '../support/browser';
import { Money } from '../../src/common/money';
import { NotificationStatus, SandboxNotification, SandboxRefund, SandboxTrade, SandboxTradeStatus } from '../../src/sandbox/sandbox.entities';
import { consolePage, FONT_STACK } from '../../src/sandbox/sandbox.pages';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { startTestServer, type TestServer } from '../support/server';

const available = chromiumAvailable('local Alipay console');

/** The Linux CJK fonts of the console's font stack that fontconfig has here (none: Chinese can only show as boxes). */
const LINUX_CJK = ['Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei'];
function installedLinuxCjkFonts(): string[] {
  try {
    const families = execFileSync('fc-list', [':lang=zh', 'family'], { encoding: 'utf8' });
    return LINUX_CJK.filter((f) => families.split(/[\n,]/).some((line) => line.trim() === f));
  } catch {
    return [];
  }
}

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id, channel: PAGE) { url } }`;
const ORDER = `query($id: ID!) { order(id: $id) { status refundedAmount } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { status outRequestNo } }`;

/** An order of the service, opened at the local Alipay's cashier (so the local Alipay has its trade). */
async function openOrder(server: TestServer, token: string, amount: string, subject: string) {
  const created = await server.gql(CREATE, { input: { amount, subject } }, token);
  expect(created.errors).toBeUndefined();
  const order = created.data!.createOrder as { id: string; orderNo: string };
  const { cashierUrl } = await openCashier((await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink.url);
  return { ...order, cashierUrl };
}

const sandboxTrade = async (server: TestServer, outTradeNo: string) =>
  (await (await fetch(`${server.url}/sandbox/alipay/trades/${outTradeNo}`)).json()) as {
    status: string;
    refundedAmount: string;
    notifications: Array<{ tradeStatus: string; status: string; attempts: number; lastReply: string | null }>;
    refunds: Array<{ outRequestNo: string; amount: string }>;
  };
const scenarios = async (server: TestServer) => (await (await fetch(`${server.url}/sandbox/alipay/scenario`)).json()) as Array<{ scope: string; scenario: string }>;

(available ? describe : describe.skip)('the local Alipay console in a real browser (Chromium), on a phone and a desktop', () => {
  let server: TestServer;
  let browser: Browser;
  let buyer: string;
  let appId: string;
  let paid: { id: string; orderNo: string; refundNo: string };
  let unpaid: { id: string; orderNo: string };
  const cjkFonts = installedLinuxCjkFonts();
  const PAID_SUBJECT = '龙井茶 Longjing tea, 250 g';

  beforeAll(async () => {
    server = await startTestServer();
    appId = server.config.alipay.appId;
    buyer = await server.token('lin');
    const admin = await server.token('ops', ['admin']);
    // A paid trade with its payment notify and a refund (and the refund's notify), both answered by the service.
    const a = await openOrder(server, buyer, '100.00', PAID_SUBJECT);
    await pressPay(a.cashierUrl);
    await waitFor('paid', async () => (await server.gql(ORDER, { id: a.id }, buyer)).data!.order.status === 'TRADE_SUCCESS');
    const refund = await server.gql(REFUND, { input: { orderId: a.id, amount: '30.00' } }, admin);
    expect(refund.data!.refundOrder.status).toBe('SUCCEEDED');
    await waitFor('both notifies delivered', async () => {
      const t = await sandboxTrade(server, a.orderNo);
      return t.notifications.length === 2 && t.notifications.every((n) => n.status === 'DELIVERED');
    });
    paid = { id: a.id, orderNo: a.orderNo, refundNo: refund.data!.refundOrder.outRequestNo };
    // An unpaid one, to switch a scenario on and close.
    const b = await openOrder(server, buyer, '8.00', '茉莉花茶 jasmine tea');
    unpaid = { id: b.id, orderNo: b.orderNo };
    browser = await launchChromium();
    if (cjkFonts.length === 0) {
      console.warn(`no Linux CJK font installed (${LINUX_CJK.join(', ')}): Chinese is checked in the CSS only, not as drawn (apt-get install fonts-noto-cjk)`);
    }
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Opens the console at a screen size; always keeps a full-page screenshot in test-results/<name>.png. */
  async function withConsole(name: string, viewport: { width: number; height: number }, run: (page: Page) => Promise<void>): Promise<void> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000); // a step that hangs fails here, with its name, before the test's own timeout
    const errors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text()))); // e.g. a CSP violation
    try {
      await page.goto(`${server.url}/sandbox/alipay/`);
      await run(page);
      expect(errors).toEqual([]);
    } finally {
      fs.mkdirSync(SCREENSHOTS, { recursive: true });
      await page.goto(`${server.url}/sandbox/alipay/`).catch(() => undefined);
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true }).catch(() => undefined);
      await context.close();
    }
  }

  /** No sideways scrolling of the page, and every table inside its card (or scrolled inside it, if `allowScroll`). */
  async function expectFits(page: Page, allowScroll: boolean): Promise<void> {
    expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0);
    const tables = await page.evaluate<Array<{ table: string; fits: boolean; scrolls: boolean }>>(`[...document.querySelectorAll('table')].map((t) => {
      const card = t.closest('.card').getBoundingClientRect();
      const box = t.getBoundingClientRect();
      const wrap = t.closest('.scroll');
      const w = wrap && wrap.getBoundingClientRect();
      const inside = (r) => r.left >= card.left - 0.5 && r.right <= card.right + 0.5;
      return {
        table: t.className,
        fits: inside(box),
        scrolls: !!wrap && getComputedStyle(wrap).overflowX === 'auto' && inside(w),
      };
    })`);
    expect(tables.length).toBeGreaterThanOrEqual(3); // the trade table, and the paid trade's notifies and refunds
    for (const t of tables) expect({ ...t, ok: t.fits || (allowScroll && t.scrolls) }).toMatchObject({ ok: true });
  }

  /** The paid trade's card shows its two notifies (one attempt each, answered success) and its refund. */
  async function expectNotifiesAndRefund(page: Page): Promise<void> {
    const card = page.locator(`[id="trade-${appId}-${paid.orderNo}"]`);
    await expect(card.locator('h2.subject').textContent()).resolves.toBe(PAID_SUBJECT);
    const notifies = card.locator('tr.notify');
    expect(await notifies.count()).toBe(2);
    expect(await card.locator('.notify-status').allTextContents()).toEqual(['DELIVERED', 'DELIVERED']);
    expect(await card.locator('.notify-attempts').allTextContents()).toEqual(['1 of 8', '1 of 8']);
    expect(await card.locator('.notify-answer').allTextContents()).toEqual(['success', 'success']);
    expect(await card.locator('.notify-next').allTextContents()).toEqual(['none: answered success', 'none: answered success']);
    expect(await card.locator('tr.refund .refund-no').allTextContents()).toEqual([paid.refundNo]);
    expect(await card.locator('tr.refund .refund-amount').allTextContents()).toEqual(['¥30.00']);
  }

  /** The subject is set in a font stack with each platform's CJK font, and (where one is installed) drawn in one. */
  async function expectChineseFont(page: Page): Promise<void> {
    const selector = `[id="trade-${appId}-${paid.orderNo}"] h2.subject`;
    const family = await page.evaluate<string>(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).fontFamily`);
    for (const f of ['Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', 'PingFang SC']) expect(family).toContain(f);
    if (cjkFonts.length === 0) return;
    // Which fonts Chromium really drew the subject with: the Chinese in one of the stack's Linux CJK fonts.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
    const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
    const cjk = fonts.filter((f) => /Noto Sans CJK|Noto Sans SC|Source Han Sans|WenQuanYi/.test(f.familyName));
    expect(cjk.map((f) => f.glyphCount).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3); // 龙井茶
    await cdp.detach();
  }

  it('fits a 390 px phone, shows each trade\'s notifies and refunds in Chinese fonts, and switches a scenario for every trade and back', async () => {
    await withConsole('local-alipay-console-390', { width: 390, height: 844 }, async (page) => {
      await expectFits(page, true);
      await expectNotifiesAndRefund(page);
      await expectChineseFont(page);

      await Promise.all([page.waitForURL(/\?done=scenario-set/), page.click('#global-DROP_NOTIFY')]);
      expect(await page.textContent('#notice')).toBe('Scenario switched on.');
      expect(await scenarios(server)).toEqual([expect.objectContaining({ scope: 'global', scenario: 'DROP_NOTIFY' })]);
      expect(await page.locator('#scenarios .scenario-list').textContent()).toContain('DROP_NOTIFY');

      await Promise.all([page.waitForURL(/\?done=scenario-cleared/), page.click('#scenario-clear-all')]);
      expect(await scenarios(server)).toEqual([]);
      expect(await page.textContent('#no-scenario')).toContain('NORMAL');
      await expectFits(page, true);
    });
  }, 60_000);

  it('fits a 1280 px desktop with every table inside its card, and its buttons switch a trade\'s scenario, close it and refund another', async () => {
    await withConsole('local-alipay-console-1280', { width: 1280, height: 800 }, async (page) => {
      await expectFits(page, false);
      await expectNotifiesAndRefund(page);
      await expectChineseFont(page);

      const unpaidCard = `[id="trade-${appId}-${unpaid.orderNo}"]`;
      await page.selectOption(`${unpaidCard} select[name=scenario]`, 'DROP_NOTIFY');
      await Promise.all([page.waitForURL(/\?done=scenario-set/), page.click(`${unpaidCard} .scenario-switch`)]);
      expect(await scenarios(server)).toEqual([expect.objectContaining({ scope: `${appId}:${unpaid.orderNo}`, scenario: 'DROP_NOTIFY' })]);
      expect(await page.locator(`${unpaidCard} .scenario-clear`).textContent()).toContain('DROP_NOTIFY');

      await Promise.all([page.waitForURL(/\?done=closed/), page.click(`${unpaidCard} .close-button`)]);
      expect((await sandboxTrade(server, unpaid.orderNo)).status).toBe('TRADE_CLOSED');
      expect(await page.locator(`${unpaidCard} .status-TRADE_CLOSED`).count()).toBeGreaterThan(0);
      expect(await page.locator(`${unpaidCard} .close-button`).count()).toBe(0);
      // Alipay's TRADE_CLOSED notify closes the service's order.
      await waitFor('order closed', async () => (await server.gql(ORDER, { id: unpaid.id }, buyer)).data!.order.status === 'TRADE_CLOSED');

      const paidCard = `[id="trade-${appId}-${paid.orderNo}"]`;
      expect(await page.inputValue(`${paidCard} input[name=amount]`)).toBe('70.00');
      await page.fill(`${paidCard} input[name=amount]`, '10.00');
      await Promise.all([page.waitForURL(/\?done=refunded/), page.click(`${paidCard} .refund-button`)]);
      const after = await sandboxTrade(server, paid.orderNo);
      expect(after).toMatchObject({ refundedAmount: '40.00', status: 'TRADE_SUCCESS' });
      expect(after.refunds.map((r) => r.amount)).toEqual(['30.00', '10.00']);
      expect(await page.locator(`${paidCard} tr.refund .refund-amount`).allTextContents()).toEqual(['¥30.00', '¥10.00']);
      expect(await page.locator(`${paidCard} tr.refund .refund-no`).nth(1).textContent()).toMatch(/^console-[0-9a-f]{12}$/);
      // The merchant learns of a refund made at Alipay from its notify.
      await waitFor('refund recorded by the service', async () => (await server.gql(ORDER, { id: paid.id }, buyer)).data!.order.refundedAmount === '40.00');
      await expectFits(page, false);
    });
  }, 60_000);
});

describe('the local Alipay console\'s buttons are plain same-origin forms, and its text is escaped once', () => {
  let server: TestServer;
  const base = () => `${server.url}/sandbox/alipay`;
  const press = (button: string, headers: Record<string, string>, body = 'scenario=DROP_NOTIFY') =>
    fetch(`${base()}/console/${button}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each([
    ['another site\'s Origin', { origin: 'http://evil.example' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (a sibling host)', { 'sec-fetch-site': 'same-site' }],
    ['a cross-site Sec-Fetch-Site under a same-origin Origin', { 'sec-fetch-site': 'cross-site', origin: 'ORIGIN' }],
    ['Origin: null and no Sec-Fetch-Site', { origin: 'null' }],
    ['neither Origin nor Sec-Fetch-Site', {}],
  ])('refuses a console button pressed with %s (no cross-site request forgery)', async (_what, headers: Record<string, string>) => {
    const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v === 'ORIGIN' ? server.url : v]));
    for (const button of ['scenario', 'scenario/clear', 'close', 'refund']) {
      const res = await press(button, h);
      expect(res.status).toBe(403);
    }
    expect(await scenarios(server)).toEqual([]);
  });

  it('takes a button pressed on the console itself (its Origin, or Sec-Fetch-Site: same-origin) and answers with a redirect back', async () => {
    const set = await press('scenario', { origin: server.url });
    expect(set.status).toBe(303);
    expect(set.headers.get('location')).toBe('/sandbox/alipay/?done=scenario-set#scenarios');
    expect(await scenarios(server)).toEqual([expect.objectContaining({ scope: 'global', scenario: 'DROP_NOTIFY' })]);
    const cleared = await press('scenario/clear', { 'sec-fetch-site': 'same-origin' }, '');
    expect(cleared.status).toBe(303);
    expect(await scenarios(server)).toEqual([]);
    // A JSON body is not a form (and a form names a trade by both appId and outTradeNo, or by neither).
    expect((await press('scenario', { origin: server.url, 'content-type': 'application/json' }, '{"scenario":"BUSY"}')).status).toBe(415);
    const half = await press('scenario/clear', { origin: server.url }, `appId=${server.config.alipay.appId}`);
    expect(half.status).toBe(400);
    expect(await scenarios(server)).toEqual([]);
  });

  it('serves the console with no script, unframeable, posting its forms only to itself', async () => {
    const res = await fetch(`${base()}/`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'self'");
    expect(csp).not.toMatch(/script-src|unsafe-eval/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).not.toMatch(/<script|\son[a-z]+=/i);
    expect(html).toContain('<form method="post" action="/sandbox/alipay/console/scenario">');
    expect(html).toContain(FONT_STACK);
  });

  it('shows a hostile subject escaped exactly once, and says nothing for a made-up ?done=', async () => {
    const token = await server.token('mallory');
    const subject = `<script>alert("x")</script> & 茶 '引号' <img src=x onerror=alert(1)>`;
    const order = await openOrder(server, token, '1.00', subject);
    const html = await (await fetch(`${base()}/?done=${encodeURIComponent('<script>alert(1)</script>')}`)).text();
    const once = `&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 茶 &#39;引号&#39; &lt;img src=x onerror=alert(1)&gt;`;
    expect(html).toContain(`<h2 class="subject">${once}</h2>`);
    expect(html).toContain(order.orderNo);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('&amp;lt;');
    expect(html).not.toContain('&amp;amp;');
    expect(html).not.toContain('id="notice"');
  });

  it('refuses a console refund of more than was paid with Alipay\'s reason, and refunds nothing', async () => {
    const token = await server.token('nina');
    const order = await openOrder(server, token, '5.00', 'refund too much');
    await pressPay(order.cashierUrl);
    await waitFor('paid', async () => (await sandboxTrade(server, order.orderNo)).status === 'TRADE_SUCCESS');
    const form = `appId=${server.config.alipay.appId}&outTradeNo=${order.orderNo}&outRequestNo=console-1&amount=`;
    const res = await press('refund', { origin: server.url }, `${form}6.00`);
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL');
    expect(page).toContain('href="/sandbox/alipay/"');
    expect((await press('refund', { origin: server.url }, `${form}%3Cb%3E`)).status).toBe(400);
    expect((await sandboxTrade(server, order.orderNo)).refunds).toEqual([]);
  });

  it('shows a notify that was not answered success: its attempts, its answer and when it is retried, or why not', () => {
    const at = new Date('2026-11-25T04:00:00Z'); // 12:00:00 in Beijing
    const trade = Object.assign(new SandboxTrade(), {
      id: 't1', appId: '9021000000000001', outTradeNo: 'ORDER_1', tradeNo: '2026112522001', cashierToken: 'secret-cashier-token-0123',
      status: SandboxTradeStatus.TRADE_SUCCESS, totalAmount: Money.parse('9.00'), refundedAmount: Money.parse('1.00'), subject: '茶',
      method: 'alipay.trade.page.pay', notifyUrl: 'http://127.0.0.1/alipay/notify', createdAt: at, paidAt: at,
    });
    const notify = (status: NotificationStatus, attempts: number, lastReply: string | null, tradeStatus = 'TRADE_SUCCESS') =>
      Object.assign(new SandboxNotification(), { trade, status, attempts, lastReply, lastAttemptAt: attempts ? at : null, nextAttemptAt: new Date(at.getTime() + 600_000), fields: { trade_status: tradeStatus } });
    const refund = Object.assign(new SandboxRefund(), { trade, outRequestNo: 'R<1>', amount: Money.parse('1.00'), reason: null, createdAt: at });
    const html = consolePage({
      baseUrl: 'http://127.0.0.1:4000/sandbox/alipay', publicKeyPem: 'PEM', certMode: false, apps: [], scenarios: [],
      trades: [{ trade, refunds: [refund], notifications: [
        notify(NotificationStatus.PENDING, 2, 'other: HTTP 500: oops'),
        notify(NotificationStatus.PENDING, 0, null),
        notify(NotificationStatus.FAILED, 8, 'failure'),
        notify(NotificationStatus.DROPPED, 0, null, 'TRADE_CLOSED'),
      ] }],
    });
    const cells = (cls: string) => [...html.matchAll(new RegExp(`class="${cls}">([^<]*)<`, 'g'))].map((m) => m[1]);
    expect(cells('notify-attempts')).toEqual(['2 of 8', '0 of 8', '8 of 8', '0 of 8']);
    expect(cells('notify-answer')).toEqual(['other: HTTP 500: oops', '—', 'failure', '—']);
    expect(cells('notify-next')).toEqual(['retry at 2026-11-25 12:10:00', 'first attempt at 2026-11-25 12:10:00', 'none: gave up after 8 attempts', 'none: dropped (DROP_NOTIFY)']);
    expect(cells('refund-no')).toEqual(['R&lt;1&gt;']);
    expect(html).not.toContain('secret-cashier-token'); // no cashier link without a control token
  });
});

describe('the local Alipay console with a control token (SANDBOX_CONTROL_TOKEN)', () => {
  const CONTROL = 'control-token-0123456789abcdef-0123456789';
  let server: TestServer;
  const base = () => `${server.url}/sandbox/alipay`;

  beforeAll(async () => {
    server = await startTestServer({ ALIPAY_GATEWAY: 'sandbox', SANDBOX_CONTROL_TOKEN: CONTROL });
  });
  afterAll(async () => {
    await server?.close();
  });

  const press = (headers: Record<string, string>) =>
    fetch(`${base()}/console/scenario`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: 'scenario=BUSY' });
  const current = async () => (await (await fetch(`${base()}/scenario`, { headers: { authorization: `Bearer ${CONTROL}` } })).json()) as unknown[];

  it('takes a console button only with the token, and even with it (a proxy that adds it) never from another site', async () => {
    expect((await press({ origin: server.url })).status).toBe(401);
    expect((await press({ origin: 'http://evil.example', authorization: `Bearer ${CONTROL}` })).status).toBe(403);
    expect((await press({ 'sec-fetch-site': 'cross-site', authorization: `Bearer ${CONTROL}` })).status).toBe(403);
    expect(await current()).toEqual([]);
    expect((await press({ 'sec-fetch-site': 'same-origin', authorization: `Bearer ${CONTROL}` })).status).toBe(303);
    expect(await current()).toEqual([expect.objectContaining({ scope: 'global', scenario: 'BUSY' })]);
  });

  it.each([
    ['PUT', '/Scenario'],
    ['PUT', '/scenario/'],
    ['DELETE', '/SCENARIO'],
    ['GET', '/Apps'],
    ['PUT', '/Apps/2021000000000999'],
    ['GET', '/Trades/ORDER'],
    ['GET', '/trades/ORDER/'],
    ['POST', '/Console/scenario'],
  ])('refuses %s %s (another spelling of a guarded route) to a stranger with 401', async (method, path) => {
    const res = await fetch(`${base()}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify({ scenario: 'DROP_NOTIFY', publicKey: 'x' }),
    });
    expect(res.status).toBe(401);
  });

  it('keeps gateway.do, the cashier, the public key and the certificates open', async () => {
    expect((await fetch(`${base()}/public-key`)).status).toBe(200);
    expect((await fetch(`${base()}/certs/root.crt`)).status).toBe(404); // no certificate mode: not found, not 401
    expect((await fetch(`${base()}/cashier/${'A'.repeat(40)}`)).status).toBe(404);
    expect((await fetch(`${base()}/gateway.do`)).status).toBe(200);
  });
});
