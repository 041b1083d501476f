import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { pipeline } from 'node:stream';
import { certSn } from '../alipay/alipay.cert';
import type { MikroORM } from '@mikro-orm/postgresql';
import express, { Router, type Request, type Response } from 'express';
import { FormError, parseForm } from '../alipay/alipay.form';
import { parsePublicKey } from '../alipay/alipay.keys';
import { SIGN_TYPES, type SignType } from '../alipay/alipay.signer';
import { bearerMatches, FORM_CONTENT_TYPE, rawQuery, readBody } from '../common/http';
import type { Logger } from '../common/logger';
import { signedReturnQuery } from './sandbox.callbacks';
import { Scenario, SandboxTradeStatus } from './sandbox.entities';
import { SandboxGateway, type SandboxCertificates } from './sandbox.gateway';
import { SandboxNotifier } from './sandbox.notifier';
import { SandboxStatements } from './sandbox.statements';
import { cashierPage, CONSOLE_HEADERS, consolePage, errorPage, messagePage, PAGE_HEADERS, tradeAnchor } from './sandbox.pages';
import { GatewayError, invalidArgument, SandboxTrades } from './sandbox.trades';

export interface LocalAlipayOptions {
  orm: MikroORM;
  /** The local Alipay's own private key: signs notifies, returns and responses. */
  alipayKey: KeyObject;
  /** Where it is reached, e.g. http://127.0.0.1:4000/sandbox/alipay. */
  baseUrl: string;
  sellerId: string;
  /** Multiplies Alipay's waits (the notify retry schedule); 1 = real time. */
  timeScale: number;
  certs: SandboxCertificates | null;
  logger: Logger;
  pollMs?: number;
  /** Certificate mode, standalone: issues a certificate for an app that registers without one. */
  issueAppCertificate?: (appPublicKey: KeyObject) => string;
  /**
   * When set, the console, the control API and the trade views need `Authorization: Bearer <token>`
   * (SANDBOX_CONTROL_TOKEN), and apps must register the URL prefixes their notify/return URLs start with.
   */
  controlToken?: string | null;
  /** How long a statement's bill_download_url works (default 30 s real time, as Alipay's). */
  statementLinkTtlMs?: number;
}

const GATEWAY_BODY_LIMIT = 64 * 1024;
const CONSOLE_FORM_LIMIT = 4 * 1024;

/**
 * The local Alipay: the real protocol with its own keys, a cashier page, notifies with Alipay's retries, and the
 * query/close/refund/precreate API, all kept in PostgreSQL. Mounted at /sandbox/alipay by the service when
 * ALIPAY_GATEWAY=sandbox, or run alone with `npm run sandbox`.
 */
export class LocalAlipay {
  readonly trades: SandboxTrades;
  readonly gateway: SandboxGateway;
  readonly notifier: SandboxNotifier;
  readonly statements: SandboxStatements;
  readonly publicKeyPem: string;

  constructor(private readonly options: LocalAlipayOptions) {
    this.trades = new SandboxTrades(options.orm, { baseUrl: options.baseUrl, sellerId: options.sellerId, timeScale: options.timeScale });
    this.statements = new SandboxStatements(
      options.orm,
      { baseUrl: options.baseUrl, sellerId: options.sellerId, linkTtlMs: options.statementLinkTtlMs },
      options.logger,
    );
    this.gateway = new SandboxGateway(this.trades, options.alipayKey, options.baseUrl, options.certs, this.statements);
    // Compressed time (tests, demos) polls often enough for the shortened retry waits to mean something.
    const pollMs = options.pollMs ?? (options.timeScale < 0.01 ? 50 : 500);
    this.notifier = new SandboxNotifier(options.orm, this.trades, options.alipayKey, { timeScale: options.timeScale, pollMs }, options.logger);
    this.publicKeyPem = createPublicKey(options.alipayKey).export({ format: 'pem', type: 'spki' }).toString();
  }

  get gatewayUrl(): string {
    return `${this.options.baseUrl}/gateway.do`;
  }

  start(): void {
    this.notifier.start();
  }

  stop(): Promise<void> {
    return this.notifier.stop();
  }

  /** Lets an app call this gateway: its id and the public key that verifies its requests. */
  registerApp(appId: string, appPublicKey: KeyObject, signType: SignType, appCertSn: string | null = null, urlPrefixes: string[] | null = null): Promise<void> {
    const pem = appPublicKey.export({ format: 'pem', type: 'spki' }).toString();
    return this.trades.registerApp(appId, pem, signType, appCertSn, urlPrefixes);
  }

  /** Whether a request carries the control token (always true when none is configured). */
  private controls(req: Request): boolean {
    const token = this.options.controlToken;
    return !token || bearerMatches(req.headers.authorization, token);
  }

  /**
   * The console's buttons: plain form posts (the pages run no script) under the control guard, from the console
   * only (`fromConsole`), answered with a redirect back to it (or a page saying what was refused).
   */
  private consoleButtons(router: Router): void {
    const consolePath = `${new URL(this.options.baseUrl).pathname.replace(/\/+$/, '')}/`;
    const back = { href: consolePath, label: 'Back to the console' };
    const refused = (res: Response, title: string, message: string) => res.status(400).set(PAGE_HEADERS).send(messagePage(title, message, back));
    const done = (res: Response, notice: string, anchor = '') => res.redirect(303, `${consolePath}?done=${notice}${anchor ? `#${anchor}` : ''}`);
    const post = (name: string, handler: (form: Record<string, string>, res: Response) => Promise<void>) =>
      router.post(`/console/${name}`, (req: Request, res: Response, next: (err?: unknown) => void) => {
        if (!fromConsole(req.headers, this.options.baseUrl)) {
          res.status(403).type('text/plain').send("the local Alipay console's buttons work from the console's own page only (a same-origin form post)");
          return;
        }
        if (!FORM_CONTENT_TYPE.test(req.headers['content-type'] ?? '')) {
          res.status(415).type('text/plain').send('a console button posts application/x-www-form-urlencoded');
          return;
        }
        (async () => {
          const body = await readBody(req, CONSOLE_FORM_LIMIT);
          let form: Record<string, string>;
          try {
            if (!body.ok) throw new FormError('too large');
            form = parseForm(body.raw, { maxFields: 10 });
          } catch (err) {
            if (!(err instanceof FormError)) throw err;
            refused(res, 'Refused', `The form could not be read: ${err.message}.`);
            return;
          }
          await handler(form, res);
        })().catch(next);
      });
    /** The trade a button names (appId + outTradeNo), both well-formed, or neither. */
    const tradeOf = (form: Record<string, string>): { appId: string; outTradeNo: string } | null | 'malformed' => {
      const appId = form.appId || null;
      const outTradeNo = form.outTradeNo || null;
      if (appId === null && outTradeNo === null) return null;
      if (appId === null || outTradeNo === null || !/^[0-9]{16}$/.test(appId) || !/^[A-Za-z0-9_-]{1,64}$/.test(outTradeNo)) return 'malformed';
      return { appId, outTradeNo };
    };
    const gatewayRefusal = (res: Response, title: string, err: unknown) => {
      if (!(err instanceof GatewayError)) throw err;
      refused(res, title, `${err.subCode ?? err.code} ${err.subMsg ?? err.msg}`);
    };

    post('scenario', async (form, res) => {
      const trade = tradeOf(form);
      if (trade === 'malformed') return void refused(res, 'Scenario not switched', 'The form names no well-formed trade (appId and outTradeNo).');
      const number = (name: string) => (form[name] === undefined || form[name] === '' ? undefined : /^[0-9]{1,9}$/.test(form[name]) ? Number(form[name]) : form[name]);
      const parsed = parseScenario({
        scenario: form.scenario,
        ...(trade ?? {}),
        ...(form.scenario === Scenario.DELAY_NOTIFY ? { delayMs: number('delayMs') } : {}),
        ...(form.scenario === Scenario.BUSY ? { times: number('times') } : {}),
      });
      if ('errors' in parsed) return void refused(res, 'Scenario not switched', parsed.errors.join('; '));
      await this.trades.setScenario(parsed.scope, parsed.scenario, parsed);
      done(res, 'scenario-set', trade ? tradeAnchor(trade) : 'scenarios');
    });
    post('scenario/clear', async (form, res) => {
      const trade = tradeOf(form);
      if (trade === 'malformed') return void refused(res, 'Scenario not cleared', 'The form names no well-formed trade (appId and outTradeNo).');
      await this.trades.clearScenario(SandboxTrades.scope(trade?.appId ?? null, trade?.outTradeNo ?? null));
      done(res, 'scenario-cleared', trade ? tradeAnchor(trade) : 'scenarios');
    });
    post('close', async (form, res) => {
      const trade = tradeOf(form);
      if (!trade || trade === 'malformed') return void refused(res, 'Not closed', 'The form names no well-formed trade (appId and outTradeNo).');
      try {
        await this.trades.closeFromConsole(trade.appId, trade.outTradeNo);
      } catch (err) {
        return void gatewayRefusal(res, 'Not closed', err);
      }
      this.notifier.kick();
      done(res, 'closed', tradeAnchor(trade));
    });
    post('refund', async (form, res) => {
      const trade = tradeOf(form);
      if (!trade || trade === 'malformed') return void refused(res, 'Not refunded', 'The form names no well-formed trade (appId and outTradeNo).');
      try {
        await this.trades.refundFromConsole(trade.appId, trade.outTradeNo, form.amount ?? '', form.outRequestNo ?? '');
      } catch (err) {
        return void gatewayRefusal(res, 'Not refunded', err);
      }
      this.notifier.kick();
      done(res, 'refunded', tradeAnchor(trade));
    });
  }

  router(): Router {
    const router = Router();
    const { baseUrl, certs } = this.options;
    const html = (res: Response, status: number, page: string) => res.status(status).set(PAGE_HEADERS).send(page);
    const wrap = (handler: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: (err?: unknown) => void) =>
      handler(req, res).catch(next);

    router.all(
      '/gateway.do',
      wrap(async (req, res) => {
        if (req.method !== 'GET' && req.method !== 'POST') {
          res.status(405).set('Allow', 'GET, POST').type('text/plain').send('GET or POST');
          return;
        }
        let params: Record<string, string>;
        try {
          params = await gatewayParams(req);
        } catch (err) {
          if (!(err instanceof FormError)) throw err;
          const error = invalidArgument('isv.invalid-parameter', `请求参数格式错误: ${err.message}`);
          res.status(400).type('application/json; charset=utf-8').send(JSON.stringify({ error_response: { code: error.code, msg: error.msg, sub_code: error.subCode, sub_msg: error.subMsg } }));
          return;
        }
        const answer = await this.gateway.handle(params);
        if (answer.kind === 'json') {
          this.notifier.kick(); // a refund or close may have queued a notify
          res.type('application/json; charset=utf-8').send(answer.body);
        }
        else if (answer.kind === 'cashier') res.redirect(303, answer.location);
        else html(res, 400, errorPage(answer.error));
      }),
    );

    router.get(
      '/cashier/:token',
      wrap(async (req, res) => {
        const found = await this.trades.byToken(String(req.params.token));
        if (!found) html(res, 404, messagePage('Not found', 'There is no such trade.'));
        else html(res, 200, cashierPage(found.trade, found.app, baseUrl));
      }),
    );

    router.post(
      '/cashier/:token/pay',
      wrap(async (req, res) => {
        let paid: Awaited<ReturnType<SandboxTrades['pay']>>;
        try {
          paid = await this.trades.pay(String(req.params.token));
        } catch (err) {
          if (!(err instanceof GatewayError)) throw err;
          html(res, 404, messagePage('Not found', 'There is no such trade.'));
          return;
        }
        const { trade, app, paidNow } = paid;
        if (paidNow) this.notifier.kick();
        if (trade.status === SandboxTradeStatus.TRADE_CLOSED) {
          this.notifier.kick();
          html(res, 200, messagePage('Trade closed', 'This trade timed out or was closed; it cannot be paid.'));
          return;
        }
        if (trade.returnUrl) {
          const query = await signedReturnQuery(
            { appId: app.appId, sellerId: this.options.sellerId, outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo, totalAmount: trade.totalAmount.toString(), method: trade.method },
            this.options.alipayKey,
            app.signType as SignType,
          );
          res.redirect(303, `${trade.returnUrl}${trade.returnUrl.includes('?') ? '&' : '?'}${query}`);
          return;
        }
        html(res, 200, messagePage('Payment complete', `Paid ¥${trade.totalAmount.toString()} for ${trade.subject}.`));
      }),
    );

    router.post(
      '/cashier/:token/cancel',
      wrap(async (req, res) => {
        const found = await this.trades.byToken(String(req.params.token));
        if (!found) {
          html(res, 404, messagePage('Not found', 'There is no such trade.'));
          return;
        }
        const back = found.trade.quitUrl ?? found.trade.returnUrl;
        html(res, 200, messagePage('Payment cancelled', 'Nothing was paid. The trade stays open until it times out.', back ? { href: back, label: 'Back to the shop' } : undefined));
      }),
    );

    // A statement's bill_download_url: open like Alipay's (an unguessable token that expires in 30 s), GET only.
    // Whatever is wrong with the address (malformed, unknown, expired) gets the same plain 404.
    router.get('/bills/:file', (req, res, next) => {
      const file = this.statements.open(String(req.params.file));
      if (!file) {
        res.status(404).set('cache-control', 'no-store').type('text/plain').send('not found');
        return;
      }
      res.status(200).set({
        'content-type': 'application/zip',
        'content-disposition': `attachment; filename="${file.fileName}"`,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      // A failure midway cuts the download short (a truncated zip is refused by any reader); a client that goes
      // away stops the build.
      pipeline(file.stream, res, (err) => {
        if (err && !res.headersSent) next(err);
      });
    });

    // ---- the console and the control API (tests, demos, other services) ----
    const json = express.json({ limit: '16kb' });
    const control = (req: Request, res: Response, next: (err?: unknown) => void) => {
      if (this.controls(req)) return next();
      res.status(401).set('www-authenticate', 'Bearer').type('text/plain').send('the local Alipay control API needs Authorization: Bearer <SANDBOX_CONTROL_TOKEN>');
    };
    // gateway.do, the cashier and the statement links are Alipay's own surfaces (signed requests, unguessable
    // tokens), the public key and certificates are public: they stay open. Everything else (the console and its buttons, apps, scenarios,
    // trade views) is guarded: a list of what is open, because Express matches routes case-insensitively and with a
    // trailing slash (`/Scenario`, `/scenario/` reach PUT /scenario), so a list of what is guarded would miss spellings.
    const OPEN = /^\/(gateway\.do|cashier\/[^/]+(\/(pay|cancel))?|public-key|certs\/[^/]+|bills\/[^/]+)$/;
    router.use((req, res, next) => (OPEN.test(req.path) ? next() : control(req, res, next)));
    router.get(
      '/',
      wrap(async (req, res) => {
        const [apps, scenarios, trades] = await Promise.all([this.trades.apps(), this.trades.scenarios(), this.trades.consoleTrades()]);
        const notice = typeof req.query.done === 'string' ? req.query.done : undefined;
        res
          .status(200)
          .set(CONSOLE_HEADERS)
          .send(consolePage({ baseUrl, publicKeyPem: this.publicKeyPem, certMode: certs !== null, apps, scenarios, trades, showCashier: Boolean(this.options.controlToken), notice }));
      }),
    );
    this.consoleButtons(router);
    router.get('/public-key', (_req, res) => {
      res.type('application/x-pem-file').send(this.publicKeyPem);
    });
    router.get('/certs/:name', (req, res) => {
      const pem = certs && (req.params.name === 'root.crt' ? certs.rootPem : req.params.name === 'alipay.crt' ? certs.alipayCertPem : null);
      if (!pem) res.status(404).type('text/plain').send('not found');
      else res.type('application/x-pem-file').send(pem);
    });
    router.get(
      '/apps',
      wrap(async (_req, res) => {
        res.json((await this.trades.apps()).map((a) => ({ appId: a.appId, signType: a.signType, appCertSn: a.appCertSn })));
      }),
    );
    router.put(
      '/apps/:appId',
      json,
      wrap(async (req, res) => {
        const body = (req.body ?? {}) as { publicKey?: unknown; signType?: unknown; appCertSn?: unknown; urlPrefixes?: unknown };
        const appId = String(req.params.appId);
        const signType = (body.signType ?? 'RSA2') as SignType;
        const problems: string[] = [];
        if (!/^[0-9]{16}$/.test(appId)) problems.push('appId must be 16 digits');
        if (!SIGN_TYPES.includes(signType)) problems.push('signType must be RSA2 or RSA');
        if (body.appCertSn !== undefined && (typeof body.appCertSn !== 'string' || !/^[0-9a-f]{32}$/.test(body.appCertSn))) {
          problems.push('appCertSn must be a 32-character lowercase hex SN');
        }
        let urlPrefixes: string[] | null = null;
        if (body.urlPrefixes !== undefined) {
          const list = body.urlPrefixes;
          if (!Array.isArray(list) || list.length < 1 || list.length > 10 || !list.every((u) => typeof u === 'string' && /^https?:\/\/[^\s?#]{1,2040}$/.test(u))) {
            problems.push('urlPrefixes must be 1–10 http(s) URLs (without query or fragment) that notify_url and return_url start with');
          } else urlPrefixes = list as string[];
        } else if (this.options.controlToken) {
          problems.push('urlPrefixes is required: the URL prefixes this app\'s notify_url and return_url start with');
        }
        let key: KeyObject | null = null;
        try {
          key = typeof body.publicKey === 'string' ? parsePublicKey(body.publicKey, 'publicKey') : null;
          if (!key) problems.push('publicKey is required');
        } catch (err) {
          problems.push((err as Error).message);
        }
        if (problems.length || !key) {
          res.status(400).json({ errors: problems });
          return;
        }
        if (await this.trades.app(appId)) {
          // Replacing a registered key over an unauthenticated API would let anyone break that app's payments.
          res.status(409).json({ errors: [`app ${appId} is already registered; the local Alipay keeps its first key`] });
          return;
        }
        let appCertSn = (body.appCertSn as string | undefined) ?? null;
        let appCertPem: string | undefined;
        if (certs && !appCertSn && this.options.issueAppCertificate) {
          appCertPem = this.options.issueAppCertificate(key);
          appCertSn = certSn(new X509Certificate(appCertPem));
        }
        await this.registerApp(appId, key, signType, appCertSn, urlPrefixes);
        res.json({
          appId,
          signType,
          gateway: this.gatewayUrl,
          alipayPublicKey: this.publicKeyPem,
          ...(appCertPem ? { appCertPem, appCertSn, rootCertPem: certs!.rootPem, alipayCertPem: certs!.alipayCertPem } : {}),
        });
      }),
    );
    router.get(
      '/scenario',
      wrap(async (_req, res) => {
        res.json(await this.trades.scenarios());
      }),
    );
    router.put(
      '/scenario',
      json,
      wrap(async (req, res) => {
        const parsed = parseScenario(req.body);
        if ('errors' in parsed) {
          res.status(400).json(parsed);
          return;
        }
        await this.trades.setScenario(parsed.scope, parsed.scenario, parsed);
        res.json({ scope: parsed.scope, scenario: parsed.scenario });
      }),
    );
    router.delete(
      '/scenario',
      wrap(async (req, res) => {
        const appId = typeof req.query.appId === 'string' ? req.query.appId : null;
        const outTradeNo = typeof req.query.outTradeNo === 'string' ? req.query.outTradeNo : null;
        await this.trades.clearScenario(SandboxTrades.scope(appId, outTradeNo));
        res.status(204).end();
      }),
    );
    router.get(
      '/trades/:outTradeNo',
      wrap(async (req, res) => {
        const appId = typeof req.query.appId === 'string' ? req.query.appId : null;
        const view = await this.trades.describe(appId, String(req.params.outTradeNo), this.options.controlToken ? true : false);
        if (!view) res.status(404).json({ error: 'no such trade' });
        else res.json(view);
      }),
    );
    return router;
  }
}

/**
 * Whether a console form post comes from the console itself, as the browser says: `Sec-Fetch-Site: same-origin`, or
 * (a browser without Fetch Metadata) an Origin of this host. A post that says neither is refused too: browsers send
 * one or the other on every form post, and scripts have the JSON API. This is what keeps another site's page from
 * pressing the console's buttons in a developer's browser, and from using a control token that a proxy adds.
 */
export function fromConsole(headers: Request['headers'], baseUrl: string): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return false;
    }
    return origin === new URL(baseUrl).origin || (headers.host !== undefined && host === headers.host.toLowerCase());
  }
  return site === 'same-origin';
}

/** gateway.do's parameters: the query string and, for POST, the form body; a name in both is refused. */
async function gatewayParams(req: Request): Promise<Record<string, string>> {
  const params = parseForm(Buffer.from(rawQuery(req), 'latin1'));
  if (req.method !== 'POST') return params;
  const body = await readBody(req, GATEWAY_BODY_LIMIT);
  if (!body.ok) throw new FormError(`body larger than ${GATEWAY_BODY_LIMIT} bytes`);
  if (body.raw.length === 0) return params;
  if (!FORM_CONTENT_TYPE.test(req.headers['content-type'] ?? '')) throw new FormError('the body must be application/x-www-form-urlencoded');
  const fromBody = parseForm(body.raw);
  for (const [name, value] of Object.entries(fromBody)) {
    if (name in params && params[name] !== value) throw new FormError(`${name} is given twice`);
    params[name] = value;
  }
  return params;
}

type ParsedScenario = { scope: string; scenario: Scenario; delayMs: number | null; times: number | null };

/** Checks a PUT /scenario body: `{ scenario, appId?, outTradeNo?, delayMs?, times? }`. */
export function parseScenario(body: unknown): ParsedScenario | { errors: string[] } {
  const errors: string[] = [];
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const scenario = b.scenario as Scenario;
  if (!Object.values(Scenario).includes(scenario)) errors.push(`scenario must be one of ${Object.values(Scenario).join(', ')}`);
  const appId = b.appId ?? null;
  const outTradeNo = b.outTradeNo ?? null;
  if ((appId === null) !== (outTradeNo === null)) errors.push('give appId and outTradeNo together (one trade), or neither (all trades)');
  if (appId !== null && (typeof appId !== 'string' || !/^[0-9]{16}$/.test(appId))) errors.push('appId must be 16 digits');
  if (outTradeNo !== null && (typeof outTradeNo !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(outTradeNo))) errors.push('outTradeNo is malformed');
  const int = (name: string, max: number) => {
    const v = b[name];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
      errors.push(`${name} must be a whole number from 0 to ${max}`);
      return null;
    }
    return v;
  };
  const delayMs = int('delayMs', 86_400_000);
  const times = int('times', 10_000);
  if (errors.length) return { errors };
  return { scope: SandboxTrades.scope(appId as string | null, outTradeNo as string | null), scenario, delayMs, times };
}
