import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, withPage as withBrowserPage } from '../support/browser';
import { waitFor } from '../support/buyer';
import { startTestServer, type TestServer } from '../support/server';

// Page-side code (run by page.evaluate) sees the browser's globals; the project compiles without the DOM library.
declare const document: any;
declare const localStorage: any;

const available = chromiumAvailable('IDE');

(available ? describe : describe.skip)('the offline GraphQL IDE at GET /graphql, in Chromium', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    // Development, as `npm start` runs: the IDE is on and its headers editor carries the dev user's token.
    server = await startTestServer({ NODE_ENV: 'development' });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A page that records every request it makes; one that would leave this machine fails instead of hanging. */
  const withPage = (name: string, run: (page: Page, requests: string[]) => Promise<void>) =>
    withBrowserPage(browser, name, { width: 1280, height: 800 }, async (page) => {
      const requests: string[] = [];
      page.on('request', (req) => void requests.push(req.url()));
      await page.context().route(/^(?!http:\/\/127\.0\.0\.1[:/]|ws:\/\/127\.0\.0\.1[:/]|data:|blob:)/, (route) => route.abort());
      await run(page, requests);
    });

  const editor = (page: Page, which: 'query' | 'headers' | 'result') =>
    page.evaluate((selector) => {
      const el = document.querySelector(selector) as { CodeMirror?: { getValue(): string } } | null;
      return el?.CodeMirror?.getValue() ?? null;
    }, which === 'query' ? '.graphiql-query-editor .CodeMirror' : which === 'headers' ? '.graphiql-editor-tool .CodeMirror' : '.result-window .CodeMirror');

  it('runs { me { id } } with the prefilled dev token and shows the answer, loading nothing from outside 127.0.0.1', async () => {
    await withPage('graphql-ide', async (page, requests) => {
      await page.goto(`${server.url}/graphql`);
      await page.waitForSelector('.graphiql-execute-button', { timeout: 20_000 });
      expect(await editor(page, 'query')).toContain('me {');
      await page.waitForFunction(() => Array.from(document.querySelectorAll('.CodeMirror')).some((e) => /Bearer ey/.test((e as any).CodeMirror?.getValue() ?? '')));
      await page.click('.graphiql-execute-button');
      await page.waitForFunction(() => /"me"/.test((document.querySelector('.result-window .CodeMirror') as any)?.CodeMirror?.getValue() ?? ''), null, { timeout: 15_000 });
      const result = JSON.parse((await editor(page, 'result'))!);
      expect(result).toEqual({ data: { me: { id: expect.any(String) } } });
      expect(requests.length).toBeGreaterThan(4);
      expect(requests.filter((url) => !url.startsWith(`${server.url}/`))).toEqual([]);
    });
  });

  it('runs a subscription over graphql-ws and shows the order change it pushes', async () => {
    await withPage('graphql-ide-subscription', async (page) => {
      await page.goto(`${server.url}/graphql`);
      await page.waitForSelector('.graphiql-execute-button', { timeout: 20_000 });
      const headers = await page.waitForFunction(() =>
        Array.from(document.querySelectorAll('.CodeMirror'))
          .map((e) => (e as any).CodeMirror?.getValue() ?? '')
          .find((v: string) => /Bearer ey/.test(v)),
      );
      const token = /Bearer ([\w.-]+)/.exec((await headers.jsonValue()) as string)![1];
      const created = await server.gql(`mutation { createOrder(input: { amount: "1.00", subject: "IDE" }) { id } }`, {}, token);
      const orderId = created.data!.createOrder.id as string;
      await page.evaluate((id) => {
        const cm = (document.querySelector('.graphiql-query-editor .CodeMirror') as any).CodeMirror;
        cm.setValue(`subscription { orderStatusChanged(orderId: "${id}") { id status } }`);
      }, orderId);
      // GraphiQL takes the editor's text into its state after a short debounce (and stores it): wait for that.
      await page.waitForFunction(() => /subscription/.test(localStorage.getItem('graphiql:query') ?? ''), null, { timeout: 10_000 });
      await page.click('.graphiql-execute-button');
      // Once the IDE's socket has subscribed, change the order.
      await waitFor('the IDE to subscribe', async () => server.app.services.orderEvents.activeSubscriptions === 1, 15_000);
      expect((await server.gql(`mutation($id: ID!) { closeOrder(orderId: $id) { status } }`, { id: orderId }, token)).errors).toBeUndefined();
      await page.waitForFunction(() => /TRADE_CLOSED/.test((document.querySelector('.result-window .CodeMirror') as any)?.CodeMirror?.getValue() ?? ''), null, { timeout: 15_000 });
    });
  });
});

describe('who gets the IDE', () => {
  let production: TestServer;
  let test: TestServer;
  beforeAll(async () => {
    production = await startTestServer({
      NODE_ENV: 'production',
      ALIPAY_GATEWAY: 'sandbox',
      SANDBOX_IN_PRODUCTION: 'true',
      SANDBOX_CONTROL_TOKEN: 'control-token-0123456789abcdef-0123456789',
      JWT_SECRET: 'ide-secret-0123456789abcdef-0123456789',
    });
    test = await startTestServer({ GRAPHQL_IDE: 'true' });
  });
  afterAll(async () => {
    await production?.close();
    await test?.close();
  });
  const page = (url: string, accept = 'text/html,application/xhtml+xml') => fetch(`${url}/graphql`, { headers: { accept } });

  it('is off by default outside development, and never Apollo’s CDN landing page', async () => {
    const res = await page(production.url);
    const body = await res.text();
    expect(body).not.toContain('graphiql');
    expect(body).not.toMatch(/<html|<script|https?:\/\//i);
    const asset = await fetch(`${production.url}/graphql/ide/graphiql.js`);
    expect(asset.status).not.toBe(200);
    expect(asset.headers.get('content-type')).not.toMatch(/javascript/);
  });

  it('is served with GRAPHQL_IDE=true, without a token when none was generated, under a CSP that allows only this origin', async () => {
    const res = await page(test.url);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain('/graphql/ide/graphiql.js');
    expect(html).not.toContain('data-headers');
    expect(html).not.toMatch(/src="https?:|href="https?:/);
    const script = await fetch(`${test.url}/graphql/ide/graphiql.js`);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });

  it('leaves GraphQL GETs and non-browser clients to the API', async () => {
    const json = await page(test.url, 'application/json');
    expect(json.headers.get('content-type')).toMatch(/json/);
    const get = await fetch(`${test.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/json, text/html', 'apollo-require-preflight': 'true' } });
    expect(await get.text()).toContain('__typename');
    const traversal = await fetch(`${test.url}/graphql/ide/..%2F..%2Fpackage.json`);
    expect(traversal.status).not.toBe(200);
    expect(await traversal.text()).not.toContain('alipay-graphql-service');
  });
});
