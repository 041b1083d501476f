import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, withPage as withBrowserPage } from '../support/browser';
import { startTestServer, type TestServer } from '../support/server';

const available = chromiumAvailable('cashier');

(available ? describe : describe.skip)('the cashier in a real browser (Chromium)', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const withPage = (name: string, viewport: { width: number; height: number }, run: (page: Page) => Promise<void>) => withBrowserPage(browser, name, viewport, run);

  it('runs the one-minute demo: the demo link opens the cashier, Pay, and the order turns TRADE_SUCCESS', async () => {
    await withPage('demo-payment', { width: 1280, height: 800 }, async (page) => {
      await page.goto(`${server.url}/dev/demo-payment`);
      await page.waitForSelector('#pay');
      expect(await page.textContent('#subject')).toBe('Demo: 一杯茶 (a cup of tea)');
      expect(await page.textContent('#amount')).toBe('¥0.01');
      await page.click('#pay');
      await page.waitForURL(/\/alipay\/return\?/);
      // The result page reloads itself every 2 s until the notify has arrived (no script: our CSP forbids it).
      await page.locator('#status', { hasText: 'TRADE_SUCCESS' }).waitFor({ timeout: 15_000 });
      expect(await page.textContent('h1')).toBe('Payment received');
    });
  });

  it('fits the WAP cashier on a phone screen and lets the buyer cancel', async () => {
    const token = await server.token('mia');
    const order = (await server.gql(`mutation { createOrder(input: { amount: "9.90", subject: "手机充值 ¥10" }) { id } }`, {}, token)).data!.createOrder;
    const link = (await server.gql(`mutation($id: ID!) { generatePayLink(orderId: $id, channel: WAP) { url } }`, { id: order.id }, token)).data!.generatePayLink;
    await withPage('wap-cancel', { width: 375, height: 667 }, async (page) => {
      await page.goto(link.url);
      await page.waitForSelector('#cancel');
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      expect(overflow).toBeLessThanOrEqual(0);
      await page.click('#cancel');
      await page.waitForSelector('#message');
      expect(await page.textContent('h1')).toBe('Payment cancelled');
    });
    const status = (await server.gql(`query($id: ID!) { order(id: $id) { status } }`, { id: order.id }, token)).data!.order.status;
    expect(status).toBe('WAIT_BUYER_PAY');
  });
});
