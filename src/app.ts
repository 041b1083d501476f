import { createPublicKey } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import type { MikroORM } from '@mikro-orm/postgresql';
import express, { type NextFunction, type Request, type Response } from 'express';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { AlipayProvider } from './alipay/alipay.provider';
import { TokenService } from './auth/token.service';
import { UserService } from './auth/user.service';
import type { Logger } from './common/logger';
import { Metrics } from './common/metrics';
import type { Config } from './config';
import { buildContext, type AppContext, type Services } from './graphql/context';
import { errorFormatter } from './graphql/errors';
import { graphqlPostHandler } from './graphql/http';
import { graphqlWsOptions, introspectionPlugin, introspectionRefusal, refusalStatus } from './graphql/edge';
import { limitRules } from './graphql/limits';
import { OrderEvents } from './graphql/pubsub';
import { buildAppSchema, printAppSchema } from './graphql/schema';
import { OrderService } from './orders/order.service';
import { callbackRoutes, notifyHandler } from './payments/callback.routes';
import { CallbackService } from './payments/callback.service';
import { PayLinkService } from './payments/pay-link.service';
import { RefundService } from './payments/refund.service';
import { TradeService } from './payments/trade.service';
import { PaymentExceptionService } from './payments/payment-exception.service';
import { OrderHistoryService } from './payments/order-history.service';
import { SANDBOX_SELLER_ID } from './dev/dev-secrets';
import { demoRoutes } from './dev/demo.routes';
import { Jobs } from './jobs/jobs';
import { createPool, onCommitted } from './db/sql';
import { reportCommitted } from './common/committed-events';
import { ideRoutes } from './graphql/ide';
import { operationMetricsPlugin, requestMeta, requestObserver } from './common/request-log';
import { issueToken } from './auth/token.service';
import { bearerMatches } from './common/http';
import { StartupError } from './db/orm';
import { LocalAlipay } from './sandbox/sandbox.server';
import { WebhookService } from './webhooks/webhook.service';
import { ReconciliationService } from './reconciliation/reconciliation.service';

export interface AppDeps {
  config: Config;
  orm: MikroORM;
  /** The URL the ORM uses; the subscription listener opens its own connection with it. */
  databaseUrl: string;
  logger: Logger;
}

export interface RunningApp {
  /** http://host:port of the listening server. */
  url: string;
  port: number;
  server: http.Server;
  alipay: AlipayProvider;
  services: Services;
  /** The built-in local Alipay, when ALIPAY_GATEWAY=sandbox. */
  localAlipay: LocalAlipay | null;
  /** The maintenance jobs, when JOBS_ENABLED. */
  jobs: Jobs | null;
  /** Alipay's callbacks (notify and return handling, the callback log's retention). */
  callbacks: CallbackService;
  metrics: Metrics;
  /** Stops accepting, drains requests and subscriptions, closes the listener connection. */
  close(): Promise<void>;
}

const GRAPHQL_BODY_LIMIT = '100kb';
const GRAPHQL_BODY_LIMIT_BYTES = 100 * 1024;

/**
 * Builds the HTTP app: /graphql (Apollo over HTTP, graphql-ws on the same path), Alipay's /alipay/notify and
 * /alipay/return, and /healthz, /readyz, /metrics. Listens on config.host:config.port (0 = any free port).
 */
export async function startApp(deps: AppDeps): Promise<RunningApp> {
  // What has been started so far, stopped in reverse if a later step fails (a port in use, say).
  const started: Array<() => Promise<unknown>> = [];
  try {
    return await buildApp(deps, started);
  } catch (err) {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
    throw err;
  }
}

async function buildApp(deps: AppDeps, started: Array<() => Promise<unknown>>): Promise<RunningApp> {
  const { config, orm, logger } = deps;
  const metrics = new Metrics();
  started.push(async () => metrics.close());
  const certificates = config.alipay.certificates;
  const alipay = new AlipayProvider({
    appId: config.alipay.appId,
    signType: config.alipay.signType,
    gatewayUrl: config.alipay.gatewayUrl,
    appPrivateKey: config.alipay.appPrivateKey,
    alipayPublicKey: config.alipay.alipayPublicKey,
    appCertSn: certificates?.appCertSn,
    alipayRootCertSn: certificates?.alipayRootCertSn,
    alipayCertSn: certificates?.alipayCertSn,
    timeoutMs: config.alipayTimeoutMs,
  });
  const tokens = new TokenService(config.jwt);
  const orderEvents = new OrderEvents(deps.databaseUrl, logger, config.dbLimits);
  await orderEvents.start();
  started.push(() => orderEvents.stop());
  metrics.gauge('graphql_subscriptions_active', 'Open orderStatusChanged subscriptions', () => orderEvents.activeSubscriptions);
  // Every write to orders, refunds, callbacks and payment exceptions is plain SQL on this pool. A connection that
  // PostgreSQL drops while idle is reported here and replaced; it never takes the process down.
  const pool = createPool(
    deps.databaseUrl,
    config.dbPoolSize,
    (err) => {
      metrics.inc('db_connection_errors_total', 'Pooled PostgreSQL connections lost while idle', { pool: 'sql' });
      logger.warn('a pooled database connection was lost; it will be replaced', { error: err });
    },
    config.dbLimits,
  );
  started.push(() => pool.end());
  const webhooks = new WebhookService(pool, config.webhooks, logger.child({ component: 'webhooks' }), metrics, { development: config.env === 'development' });
  const report = reportCommitted(logger, metrics);
  // Business events: the webhook outbox is written inside the transaction that caused them; once it commits, the
  // log lines and counters, and the delivery worker is woken.
  onCommitted(pool, {
    beforeCommit: webhooks.hooks.beforeCommit,
    afterCommit: (events) => {
      report(events);
      webhooks.hooks.afterCommit(events);
    },
  });
  await webhooks.syncEnvironmentEndpoint();
  webhooks.start();
  started.push(() => webhooks.stop());
  metrics.gauge('db_pool_connections', 'Connections open in the SQL pool', () => pool.totalCount);
  metrics.gauge('db_pool_connections_idle', 'Idle connections in the SQL pool', () => pool.idleCount);
  metrics.gauge('db_pool_waiting', 'Requests waiting for a connection of the SQL pool', () => pool.waitingCount);
  const orders = new OrderService(pool, { orderTtlMs: config.orderTtlMs });
  const refunds = new RefundService(pool, alipay, orders, logger);
  const paymentExceptions = new PaymentExceptionService(pool, alipay, { autoRefund: config.autoRefundUnwantedPayments }, logger, metrics);
  const trades = new TradeService(pool, alipay, orders, refunds, paymentExceptions, logger);
  const payLinks = new PayLinkService(orders, alipay, { publicUrl: config.publicUrl, frontendReturnUrl: config.frontendReturnUrl }, logger);
  const history = new OrderHistoryService(pool);
  const reconciliation = new ReconciliationService(pool, alipay, trades, logger.child({ component: 'reconciliation' }), metrics);
  const services: Services = { users: new UserService(), orders, payLinks, trades, refunds, paymentExceptions, history, orderEvents, webhooks, reconciliation, logger };
  const callbacks = new CallbackService(pool, alipay, refunds, paymentExceptions, { sellerId: config.alipay.sellerId }, logger, metrics);

  let localAlipay: LocalAlipay | null = null;
  if (config.sandbox && config.alipay.sandboxPrivateKey) {
    localAlipay = new LocalAlipay({
      orm,
      alipayKey: config.alipay.sandboxPrivateKey,
      baseUrl: `${config.publicUrl}/sandbox/alipay`,
      sellerId: config.alipay.sellerId ?? SANDBOX_SELLER_ID,
      timeScale: config.sandbox.timeScale,
      certs: config.sandbox.certificates,
      logger: logger.child({ component: 'local-alipay' }),
      controlToken: config.sandbox.controlToken,
    });
    await localAlipay.registerApp(
      config.alipay.appId,
      createPublicKey(config.alipay.appPrivateKey),
      config.alipay.signType,
      certificates?.appCertSn ?? null,
      // The built-in app's notifies and returns go to this service only.
      [`${config.publicUrl}/`],
    );
    localAlipay.start();
    const local = localAlipay;
    started.push(() => local.stop());
  }
  const jobs = config.jobsEnabled
    ? new Jobs(
        deps.databaseUrl,
        async () => {
          metrics.inc('jobs_runs_total', 'Maintenance job runs in this process');
          // Each step on its own: one that fails (Alipay down, say) is counted and logged, and the others still run.
          const steps: Array<[string, () => Promise<unknown>]> = [
            ['close_expired', () => trades.closeExpired()],
            ['repeat_closes', () => trades.repeatCloses()],
            ['reconcile_pending', () => trades.reconcilePending()],
            ['retry_refunds', () => refunds.retryPending()],
            ['retry_payment_exceptions', () => paymentExceptions.retryPending()],
            ['purge_unverified_callbacks', () => callbacks.purgeUnverified(config.callbackLogRetentionMs)],
            ['reconcile_yesterday', () => reconciliation.runDaily(config.reconcileAtMinutes)],
          ];
          let failed: unknown = null;
          for (const [job, run] of steps) {
            const startedAt = performance.now();
            try {
              await run();
            } catch (err) {
              failed ??= err;
              metrics.inc('job_failures_total', 'Maintenance job steps that failed', { job });
              logger.warn('maintenance job failed; it runs again next round', { job, error: err });
            } finally {
              metrics.observe('job_duration_seconds', 'Time a maintenance job step took', { job }, (performance.now() - startedAt) / 1000);
            }
          }
          if (failed) throw failed;
        },
        logger,
      )
    : null;
  if (jobs) {
    await jobs.start();
    started.push(() => jobs.stop());
  }
  const contextDeps = { orm, tokens, services };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  let graphqlPost: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | null = null;
  const reportError = (err: unknown) => logger.error('request failed', { error: err });
  const reportAbort = (err: Error) => logger.debug('client went away', { reason: err.message });
  const notify = notifyHandler(callbacks, reportError, reportAbort);
  // Every request: its duration in /metrics, and (LOG_REQUESTS) one log line when it is answered.
  const observe = requestObserver(metrics, config.logRequests ? logger : null);
  // The two hot routes go straight to their handlers; everything else through Express.
  const server = http.createServer((req, res) => {
    observe(req, res);
    const url = req.url ?? '';
    if (req.method === 'POST' && url === '/alipay/notify') void notify(req, res);
    else if (graphqlPost && req.method === 'POST' && (url === '/graphql' || url.startsWith('/graphql?'))) graphqlPost(req, res);
    else app(req, res);
  });

  const schema = await buildAppSchema();
  const formatError = errorFormatter(logger, { hideSuggestions: config.env === 'production', maxTokens: config.graphql.limits.maxTokens });
  // noServer: the HTTP server's own errors (EADDRINUSE) stay its own and are reported by listen below, not
  // re-emitted on the WebSocket server as an "internal error".
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/graphql') {
      socket.destroy();
      return;
    }
    wsServer.handleUpgrade(req, socket, head, (ws) => wsServer.emit('connection', ws, req));
  });
  const wsCleanup = useServer(
    graphqlWsOptions({
      schema,
      tokens,
      limits: config.graphql.limits,
      introspection: config.graphql.introspection,
      maxSubscriptions: config.graphql.maxSubscriptions,
      context: (authorization) => buildContext(contextDeps, authorization || undefined),
      // The same error codes and masking as over HTTP.
      format: (errors) => errors.map((e) => formatError(e.toJSON(), e)),
      logger,
    }),
    wsServer,
  );

  const apollo = new ApolloServer<AppContext>({
    schema,
    formatError,
    includeStacktraceInErrorResponses: false,
    // Who may introspect is the introspection plugin's decision (GRAPHQL_INTROSPECTION), the same as on graphql-ws.
    introspection: true,
    validationRules: limitRules(config.graphql.limits),
    parseOptions: { maxTokens: config.graphql.limits.maxTokens },
    // main.ts owns shutdown (HTTP, ORM, PostgreSQL, in that order); Apollo's own handler would re-raise the signal.
    stopOnTerminationSignals: false,
    plugins: [
      // Apollo's landing page loads from a CDN; the offline IDE (GRAPHQL_IDE) is ours.
      ApolloServerPluginLandingPageDisabled(),
      operationMetricsPlugin(metrics),
      introspectionPlugin(config.graphql.introspection),
      ApolloServerPluginDrainHttpServer({ httpServer: server }),
      { serverWillStart: async () => ({ drainServer: async () => void (await wsCleanup.dispose()) }) },
    ],
  });
  await apollo.start();
  started.push(() => apollo.stop());
  graphqlPost = graphqlPostHandler(apollo, (req) => buildContext(contextDeps, req.headers.authorization, requestMeta(req)), GRAPHQL_BODY_LIMIT_BYTES, reportAbort);

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await pool.query('select 1');
      res.type('text/plain').send('ready');
    } catch {
      res.status(503).type('text/plain').send('database unreachable');
    }
  });
  const metricsToken = config.metricsToken;
  app.get('/metrics', (req, res) => {
    if (metricsToken && !bearerMatches(req.headers.authorization, metricsToken)) {
      res.status(401).set('www-authenticate', 'Bearer').type('text/plain').send('metrics need Authorization: Bearer <METRICS_TOKEN>');
      return;
    }
    void metrics.render().then(
      (text) => {
        res.type(metrics.contentType).send(text);
        // `?reset=eventloop` starts a fresh event-loop delay window (the benchmark measures one workload at a time). In
        // production only a METRICS_TOKEN holder may: a stranger must not blank the operators' view.
        if (req.query.reset === 'eventloop' && (config.env !== 'production' || metricsToken)) metrics.resetLoopDelay();
      },
      (err) => {
        reportError(err);
        res.status(500).type('text/plain').send('metrics failed');
      },
    );
  });
  // The committed SDL (what schema.graphql holds), for codegen and IDEs, under the introspection policy.
  const sdl = printAppSchema(schema);
  app.get('/graphql/schema.graphql', async (req, res) => {
    let user = null;
    try {
      const bearer = TokenService.bearer(req.headers.authorization);
      user = bearer ? await tokens.verify(bearer) : null;
    } catch {
      user = null;
    }
    const refusal = introspectionRefusal(config.graphql.introspection, user);
    if (refusal) {
      res.status(refusalStatus(refusal)).type('text/plain').send(refusal.message);
      return;
    }
    res.type('text/plain; charset=utf-8').send(sdl);
  });
  app.use(callbackRoutes(callbacks, { frontendReturnUrl: config.frontendReturnUrl, onError: reportError }));
  if (localAlipay) app.use('/sandbox/alipay', localAlipay.router());
  if (localAlipay && config.env !== 'production') {
    app.use(demoRoutes({ orders, payLinks, em: () => orm.em.fork() }));
  }
  if (config.graphql.ide) {
    // In development with a generated JWT secret, the headers editor starts with the dev user's token (the same
    // one the start-up banner prints).
    const jwt = config.jwt;
    const devHeaders =
      config.env === 'development' && jwt.kind === 'secret' && jwt.generated
        ? async () => ({ authorization: `Bearer ${await issueToken(jwt.secret, { sub: 'dev-user' }, { expiresIn: '24h', issuer: jwt.issuer, audience: jwt.audience })}` })
        : undefined;
    app.use(ideRoutes({ headers: devHeaders }));
  }
  app.use(
    '/graphql',
    express.json({ limit: GRAPHQL_BODY_LIMIT }),
    expressMiddleware(apollo, { context: async ({ req }) => buildContext(contextDeps, req.headers.authorization, requestMeta(req)) }),
  );
  app.use((_req: Request, res: Response) => {
    res.status(404).type('text/plain').send('not found');
  });
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === 'request.aborted') {
      reportAbort(err);
      return;
    }
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) logger.error('request failed', { error: err });
    const message =
      err.type === 'entity.too.large' ? 'Request body too large' : err.type === 'entity.parse.failed' ? 'Malformed JSON body' : status === 500 ? 'Internal server error' : 'Bad request';
    res.status(status).json({ errors: [{ message, extensions: { code: status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST' } }] });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new StartupError(`PORT ${config.port} on ${config.host} is already in use: stop the other process or set PORT to a free port`)
          : err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES'
            ? new StartupError(`HOST ${config.host} / PORT ${config.port} cannot be listened on (${err.code})`)
            : err,
      ),
    );
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    alipay,
    services,
    localAlipay,
    jobs,
    callbacks,
    metrics,
    close: () =>
      (closing ??= (async () => {
        await apollo.stop();
        await webhooks.stop();
        await jobs?.stop();
        await localAlipay?.stop();
        await orderEvents.stop();
        await pool.end();
        metrics.close();
      })()),
  };
}
