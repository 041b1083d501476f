import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import config from '../../mikro-orm.config';
import { DEFAULT_POOL_LIMITS, type PoolLimits } from './sql';

/** A start-up failure that names the setting to fix. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * Opens the ORM on a database URL with the shared settings and a pool of the given size. Statements and waits
 * for a connection are bounded like the service's own pool (pass `statementTimeoutMs: 0` for none, as the
 * migrations do). knex keeps a dropped connection from raising an unhandled error and replaces it on next use.
 */
export function initOrm(
  databaseUrl: string,
  poolSize = 10,
  limits: PoolLimits = DEFAULT_POOL_LIMITS,
  onWarning: (message: string) => void = () => undefined,
): Promise<MikroORM> {
  return MikroORM.init({
    ...config,
    clientUrl: databaseUrl,
    pool: { min: 0, max: poolSize, acquireTimeoutMillis: limits.acquireTimeoutMs },
    driverOptions: {
      // knex reports a dropped connection ("Connection Error: …") through its logger, not console.log.
      log: { warn: onWarning, error: onWarning, deprecate: () => undefined, debug: () => undefined },
      connection: {
        application_name: 'alipay-service',
        connectionTimeoutMillis: limits.acquireTimeoutMs,
        ...(limits.statementTimeoutMs ? { statement_timeout: limits.statementTimeoutMs } : {}),
      },
    },
  });
}

/** One key for every instance of this service: whoever holds it is the one migrating. */
export const MIGRATION_LOCK_KEY = 7_245_310_001;
/** Setting up the job queue (pg-boss creates a table per queue: two instances doing it at once deadlock). */
export const JOBS_SETUP_LOCK_KEY = 7_245_310_002;

/**
 * Applies pending migrations under a PostgreSQL advisory lock, so N instances starting at once (or a rollout of a
 * new migration) apply each migration exactly once: the first takes the lock and migrates, the others wait for
 * it, then find nothing pending. The lock is a session lock on a connection of its own, released when that
 * connection ends, also if this process dies mid-way. Returns the names of the migrations this call applied.
 */
export async function migrate(orm: MikroORM, databaseUrl?: string): Promise<string[]> {
  const url = databaseUrl ?? (orm.config.get('clientUrl') as string);
  return withAdvisoryLock(url, MIGRATION_LOCK_KEY, async () => (await orm.getMigrator().up()).map((m) => m.name));
}

/**
 * Runs `work` while holding a PostgreSQL session advisory lock, on a connection of its own: across every instance
 * on the database, one runs it at a time. The lock goes with the connection, also if this process dies.
 */
export async function withAdvisoryLock<T>(databaseUrl: string, key: number, work: () => Promise<T>): Promise<T> {
  const lock = new Client({ connectionString: databaseUrl, application_name: 'alipay-service-lock' });
  lock.on('error', () => undefined); // a lost lock connection surfaces as the work's own failure
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [key]);
    return await work();
  } finally {
    await lock.query('select pg_advisory_unlock($1)', [key]).catch(() => undefined);
    await lock.end().catch(() => undefined);
  }
}

/** Opens a short-lived ORM without a statement timeout (a migration may rewrite a large table), migrates, closes it. */
export async function migrateDatabase(databaseUrl: string): Promise<string[]> {
  const orm = await initOrm(databaseUrl, 1, { ...DEFAULT_POOL_LIMITS, statementTimeoutMs: 0 });
  try {
    return await migrate(orm, databaseUrl);
  } finally {
    await orm.close();
  }
}

/**
 * Connects once to DATABASE_URL and explains a failure by naming the variable and the cause, never the password:
 * unreachable host or port, unknown host, refused login, or a database that does not exist (which is never created
 * behind the operator's back). Resolves when the database answers.
 */
export async function checkDatabase(databaseUrl: string, variable = 'DATABASE_URL'): Promise<void> {
  let where = 'the database';
  let name = '';
  try {
    const url = new URL(databaseUrl);
    where = `${url.searchParams.get('host') ?? url.hostname}:${url.port || '5432'}`;
    name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  } catch {
    throw new StartupError(`${variable}: is not a URL`);
  }
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000, application_name: 'alipay-service-check' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason =
      code === '3D000'
        ? `database "${name}" does not exist on ${where}: create it, or fix the name in the URL`
        : code === '28P01' || code === '28000'
          ? `the server at ${where} refused the user or password`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? `host ${where.split(':')[0]} is not found`
            : `cannot connect to ${where} (${code ?? (err as Error).message.slice(0, 80)})`;
    throw new StartupError(`${variable}: ${reason}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
