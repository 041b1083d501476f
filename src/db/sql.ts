import { createHash } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';

/**
 * Plain SQL through node-postgres, with `$1`-style parameters. Every write the service makes to orders, refunds,
 * callbacks and payment exceptions goes through here: one statement on the pool, or one transaction from
 * `inTransaction`. MikroORM keeps the schema (entities → migrations) and some reads; it never writes an order.
 */
export interface SqlExecutor {
  query<R extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  /**
   * Announces a business fact this work caused (an order paid, a refund made): inside `inTransaction`, once the
   * transaction has committed (a rolled-back change announces nothing); on the pool, at once (call it after the
   * statement that made it true). Who listens is the pool's business (`onCommitted`).
   */
  emit(event: CommittedEvent): void;
}

/** A business fact, announced after it is committed: `type` names it ("order.paid"), the rest describes it. */
export interface CommittedEvent {
  type: string;
  [field: string]: unknown;
}

/**
 * What a pool's transactions tell the rest of the service: `beforeCommit` runs inside the transaction with its
 * events (to write them down in the same commit); `afterCommit` runs once they are committed.
 */
export interface CommitHooks {
  beforeCommit?(tx: SqlExecutor, events: readonly CommittedEvent[]): Promise<void>;
  afterCommit?(events: readonly CommittedEvent[]): void;
}

const hooksOf = new WeakMap<Pool, CommitHooks>();

/** Sets who hears the committed events of `pool`'s work (one set of hooks per pool). */
export function onCommitted(pool: Pool, hooks: CommitHooks): void {
  hooksOf.set(pool, hooks);
}

function announce(pool: Pool, events: readonly CommittedEvent[]): void {
  if (!events.length) return;
  try {
    hooksOf.get(pool)?.afterCommit?.(events);
  } catch {
    // A listener's fault must not turn a committed change into a failed request.
  }
}

/** How long a statement may run and how long a caller waits for a connection before giving up. */
export interface PoolLimits {
  statementTimeoutMs: number;
  acquireTimeoutMs: number;
}

export const DEFAULT_POOL_LIMITS: PoolLimits = { statementTimeoutMs: 5_000, acquireTimeoutMs: 3_000 };

/**
 * A pool for the service's own SQL. PostgreSQL may drop connections at any moment (a restart, a failover, a DBA
 * terminating backends): an idle client's error is reported to `onError` instead of taking the process down, and
 * the pool replaces the client on the next checkout. Statements and waits for a connection are bounded, so a
 * database that hangs makes requests fail fast rather than pile up.
 */
export function createPool(
  databaseUrl: string,
  size: number,
  onError: (err: Error) => void,
  limits: PoolLimits = DEFAULT_POOL_LIMITS,
  applicationName = 'alipay-service-sql',
): Pool {
  const pool = new Pool({
    connectionString: databaseUrl,
    max: size,
    application_name: applicationName,
    connectionTimeoutMillis: limits.acquireTimeoutMs,
    statement_timeout: limits.statementTimeoutMs || undefined,
    // A transaction left open by a stuck caller must not hold an order's row lock for long.
    idle_in_transaction_session_timeout: Math.max(limits.statementTimeoutMs * 2, 10_000),
    keepAlive: true,
  });
  pool.on('error', onError);
  return pool;
}

const statementNames = new Map<string, string>();
let statements = 0;

/** How many statements this process has sent through `prepared` executors (for tests that count round trips). */
export function sqlStatementCount(): number {
  return statements;
}

/**
 * An executor that runs every statement as a named prepared statement (PostgreSQL parses and plans it once per
 * connection, and later executions send only the parameters). The name is derived from the text.
 */
export function prepared(db: Pool | PoolClient, events?: CommittedEvent[]): SqlExecutor {
  return {
    emit: (event) => {
      if (events) events.push(event);
      else if (db instanceof Pool) announce(db, [event]);
    },
    query<R extends object>(text: string, params: unknown[] = []) {
      let name = statementNames.get(text);
      if (!name) {
        name = `s${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
        statementNames.set(text, name);
      }
      statements++;
      return db.query<R>({ name, text, values: params });
    },
  };
}

/**
 * The one transaction helper: runs `work` in one transaction on one pooled connection, COMMIT when it resolves,
 * ROLLBACK when it throws. A connection that broke on the way is dropped, never returned to the pool.
 */
export async function inTransaction<T>(pool: Pool, work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  const events: CommittedEvent[] = [];
  const result = await withClient(pool, async (client, broke) => {
    try {
      await client.query('begin');
      const tx = prepared(client, events);
      const done = await work(tx);
      if (events.length) await hooksOf.get(pool)?.beforeCommit?.(tx, events);
      await client.query('commit');
      return done;
    } catch (err) {
      await client.query('rollback').catch(broke);
      throw err;
    }
  });
  announce(pool, events);
  return result;
}

/**
 * Runs `work` on one pooled connection held for its whole duration (a transaction, a session's advisory lock or
 * temporary tables). If PostgreSQL drops the connection meanwhile, that is `work`'s error, never an unhandled one
 * that takes the process down, and the broken connection is dropped, not returned to the pool; so is one that
 * `work` reports with `broke`.
 */
export async function withClient<T>(pool: Pool, work: (client: PoolClient, broke: (err: Error) => void) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const broke = (err: Error) => {
    broken = err;
  };
  client.on('error', broke); // the server went away while the client was checked out
  try {
    return await work(client, broke);
  } finally {
    client.off('error', broke);
    client.release(broken);
  }
}

/** The PostgreSQL error code (SQLSTATE) of a node-postgres or MikroORM error, if any. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENOENT', 'EAI_AGAIN']);
const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /not queryable/i,
  /timeout acquiring a connection/i,
  /connection (is )?closed/i,
  /server closed the connection/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /cannot use a pool after calling end/i,
  /query read timeout/i,
];

/**
 * Whether an error means "the database cannot be reached or is going away" rather than "this statement is
 * wrong": connection exceptions (08xxx), an admin or crash shutdown (57P01–57P03), too many connections (53300),
 * a statement timeout (57014), refused or reset sockets, and the pools' own time-outs. Such a request may succeed
 * when retried later; callers answer it as unavailable, not as a bug.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let current: unknown = err, depth = 0; current && depth < 6; depth++) {
    const state = sqlState(current);
    if (state && (state.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '57014'].includes(state))) return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_NODE_CODES.has(code)) return true;
    const message = (current as { message?: unknown }).message;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((m) => m.test(message))) return true;
    if (current instanceof AggregateError && current.errors.some((e) => isDatabaseUnavailable(e))) return true;
    current = (current as { cause?: unknown; originalError?: unknown }).cause ?? (current as { originalError?: unknown }).originalError;
  }
  return false;
}
