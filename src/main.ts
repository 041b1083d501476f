import 'reflect-metadata';
import cluster from 'node:cluster';
import fs from 'node:fs';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { startApp, type RunningApp } from './app';
import { issueToken } from './auth/token.service';
import { createLogger, type Logger } from './common/logger';
import { ConfigError, describeConfig, loadConfig, type Config } from './config';
import { startEmbeddedPostgres, type RunningPostgres } from './db/embedded-postgres';
import { checkDatabase, initOrm, migrateDatabase, StartupError } from './db/orm';
import { writeRuntimeInfo, removeRuntimeInfo } from './dev/runtime-info';

const USAGE = `Usage: npm start [-- --check-config]

Starts the Alipay payment service. Configuration comes from the environment (and .env when present);
see README.md for every variable.

  --check-config   validate the configuration, print a summary without secrets, and exit
  --help           show this help
`;

export function parseArgs(argv: string[]): { checkConfig: boolean; help: boolean } {
  const flags = { checkConfig: false, help: false };
  for (const arg of argv) {
    if (arg === '--check-config') flags.checkConfig = true;
    else if (arg === '--help' || arg === '-h') flags.help = true;
    else throw new Error(`unknown argument: ${arg.length > 40 ? `${arg.slice(0, 40)}…` : arg}`);
  }
  return flags;
}

async function main(): Promise<void> {
  let flags: ReturnType<typeof parseArgs>;
  try {
    flags = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (fs.existsSync('.env')) process.loadEnvFile('.env');

  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Colored lines for a developer at a terminal; JSON lines everywhere else (files, pipes, containers).
  const logger = createLogger(config.logLevel, undefined, {}, { pretty: config.env === 'development' && process.stdout.isTTY === true });
  logger.info('starting', describeConfig(config));
  if (flags.checkConfig) {
    if (config.databaseUrl) {
      // Really connect: a valid-looking URL to a database that is not there is not a valid configuration.
      try {
        await checkDatabase(config.databaseUrl);
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exit(1);
      }
    }
    process.stdout.write(`Configuration is valid:\n${JSON.stringify(describeConfig(config), null, 2)}\n`);
    return;
  }

  if (cluster.isWorker) {
    await runWorker(config, logger);
    return;
  }

  let pg: RunningPostgres | null = null;
  let orm: MikroORM | null = null;
  let app: RunningApp | null = null;
  let stopping: Promise<void> | null = null;
  const shutdown = (code: number): Promise<void> =>
    (stopping ??= (async () => {
      await app?.close().catch((err) => logger.error('closing the app failed', { error: err }));
      await stopWorkers();
      await orm?.close().catch((err) => logger.error('closing the ORM failed', { error: err }));
      await pg?.stop().catch((err) => logger.error('stopping PostgreSQL failed', { error: err }));
      removeRuntimeInfo(config.dataDir);
      process.exit(code);
    })());
  // Installed before anything starts: a signal during start-up stops what has started so far, PostgreSQL too.
  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (++signals > 1) {
        logger.warn('second signal: exiting now');
        process.exit(1);
      }
      logger.info(`${signal} received: draining and stopping`);
      void shutdown(0);
    });
  }

  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      pg = await startEmbeddedPostgres({ root: path.join(config.dataDir, 'postgres') });
      databaseUrl = pg.url('postgres', 'socket'); // node-postgres takes the Unix socket; MikroORM uses TCP
      if (pg.relocatedBecause) logger.warn(`embedded PostgreSQL: ${pg.relocatedBecause}`);
      logger.info('embedded PostgreSQL started', { dataDir: pg.root, port: pg.port });
    }
    if (stopping) return;
    if (config.databaseUrl) await checkDatabase(config.databaseUrl);
    const applied = await migrateDatabase(databaseUrl);
    if (applied.length) logger.info('migrations applied', { migrations: applied });
    if (stopping) return;
    let url: string;
    let localAlipay: boolean;
    if (config.workers > 1) {
      // node:cluster: the workers share the listening socket; this process keeps PostgreSQL and the banner.
      url = await startWorkers(config.workers, databaseUrl, logger, () => stopping !== null);
      localAlipay = config.sandbox !== null;
    } else {
      orm = await initOrm(databaseUrl, config.dbPoolSize, config.dbLimits, ormWarning(logger));
      app = await startApp({ config, orm, databaseUrl, logger });
      url = app.url;
      localAlipay = app.localAlipay !== null;
    }
    if (stopping) return;
    if (pg) writeRuntimeInfo(config.dataDir, { pid: process.pid, publicUrl: config.publicUrl, databaseUrl });
    await announce(config, { url, localAlipay, workers: config.workers }, pg);
  } catch (err) {
    if (err instanceof StartupError) process.stderr.write(`${err.message}\n`);
    else logger.error('start-up failed', { error: err });
    await shutdown(1);
  }
}

/** The ORM's own warnings (a lost connection), as log lines. */
const ormWarning = (logger: Logger) => (message: string) => logger.warn('ORM database warning', { message: String(message).slice(0, 300) });

/** A cluster worker: the app on the database its primary gave it; SIGTERM from the primary stops it cleanly. */
async function runWorker(config: Config, logger: Logger): Promise<void> {
  const databaseUrl = config.databaseUrl as string;
  const orm = await initOrm(databaseUrl, config.dbPoolSize, config.dbLimits, ormWarning(logger));
  const app = await startApp({ config, orm, databaseUrl, logger: logger.child({ worker: cluster.worker?.id }) });
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        await app.close().catch(() => undefined);
        await orm.close().catch(() => undefined);
        process.exit(0);
      })();
    });
  }
  process.send?.({ listening: app.url });
}

/** Forks the workers and resolves once all of them listen; a worker that dies unasked is replaced. */
function startWorkers(count: number, databaseUrl: string, logger: Logger, shuttingDown: () => boolean): Promise<string> {
  const env = { DATABASE_URL: databaseUrl };
  return new Promise((resolve, reject) => {
    let ready = 0;
    let url = '';
    const fork = () => {
      const worker = cluster.fork(env);
      worker.on('message', (message: { listening?: string }) => {
        if (!message.listening) return;
        url = message.listening;
        if (++ready === count) resolve(url);
      });
      worker.on('exit', (code) => {
        if (shuttingDown()) return;
        if (ready < count) reject(new Error(`a worker exited with ${code} during start-up`));
        else {
          logger.error('a worker died; starting another', { code });
          ready--;
          fork();
        }
      });
    };
    for (let i = 0; i < count; i++) fork();
  });
}

/** Asks every worker to stop and waits for them (a clean stop drains each one's HTTP and database). */
async function stopWorkers(): Promise<void> {
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is NonNullable<typeof w> => Boolean(w));
  await Promise.all(
    workers.map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
        }),
    ),
  );
}

async function announce(config: Config, app: { url: string; localAlipay: boolean; workers: number }, pg: RunningPostgres | null): Promise<void> {
  const lines = [
    '',
    `  GraphQL:  ${config.publicUrl}/graphql   (listening on ${app.url}${app.workers > 1 ? `, ${app.workers} workers` : ''})`,
    `  Notify:   ${config.publicUrl}/alipay/notify`,
    `  Database: ${pg ? `embedded PostgreSQL, data in ${pg.root}` : 'DATABASE_URL'}`,
  ];
  if (pg?.relocatedBecause) lines.push(`            (${pg.relocatedBecause})`);
  if (config.jwt.kind === 'secret' && config.jwt.generated) {
    const user = await issueToken(config.jwt.secret, { sub: 'dev-user' }, { expiresIn: '24h', issuer: config.jwt.issuer, audience: config.jwt.audience });
    const admin = await issueToken(config.jwt.secret, { sub: 'dev-admin', roles: ['admin'] }, { expiresIn: '24h', issuer: config.jwt.issuer, audience: config.jwt.audience });
    lines.push(
      '',
      '  Development tokens (valid 24 h; signed with the generated secret in DATA_DIR/keys):',
      `  user  (sub dev-user):   Bearer ${user}`,
      `  admin (sub dev-admin):  Bearer ${admin}`,
      '',
      `  export TOKEN=${user}`,
      `  export ADMIN=${admin}`,
    );
  }
  if (app.localAlipay) {
    lines.push(
      '',
      '  Alipay:   the built-in local Alipay (no account, no internet needed)',
      `            console  ${config.publicUrl}/sandbox/alipay/`,
    );
    if (config.env !== 'production') {
      lines.push(`  Demo:     open ${config.publicUrl}/dev/demo-payment in a browser and press Pay`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`fatal: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
