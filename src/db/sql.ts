import type { EntityManager } from '@mikro-orm/postgresql';
import { createHash } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';

/**
 * Plain SQL for the hot paths (createOrder, pay links, notifies), where MikroORM's unit of work adds work and round
 * trips but nothing else: one statement, or one short transaction, through node-postgres. `$1`-style parameters.
 * A node-postgres client or pool is an executor as it is; `inEntityManager` makes one of a MikroORM transaction.
 */
export interface SqlExecutor {
  query<R extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export function createPool(databaseUrl: string, size: number): Pool {
  return new Pool({ connectionString: databaseUrl, max: size, application_name: 'alipay-service-sql' });
}

const statementNames = new Map<string, string>();

/**
 * An executor that runs every statement as a named prepared statement (PostgreSQL parses and plans it once per
 * connection, and later executions send only the parameters). The name is derived from the text.
 */
export function prepared(db: Pool | PoolClient): SqlExecutor {
  return {
    query<R extends object>(text: string, params: unknown[] = []) {
      let name = statementNames.get(text);
      if (!name) {
        name = `s${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
        statementNames.set(text, name);
      }
      return db.query<R>({ name, text, values: params });
    },
  };
}

/** Runs `work` in one transaction on one pooled connection: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((rollbackFailed: Error) => {
      broken = rollbackFailed; // the connection is unusable: drop it rather than return it to the pool
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/** An executor that runs inside a MikroORM transaction (knex takes `?` bindings: `$n` are rewritten). */
export function inEntityManager(em: EntityManager): SqlExecutor {
  return {
    async query<R extends object>(text: string, params: unknown[] = []) {
      const bindings: unknown[] = [];
      const sql = text.replace(/\$(\d+)/g, (_, n: string) => {
        bindings.push(params[Number(n) - 1]);
        return '?';
      });
      const rows = await em.getConnection().execute(sql, bindings, 'all', em.getTransactionContext());
      return { rows: rows as R[] };
    },
  };
}

/** The PostgreSQL error code (SQLSTATE) of a node-postgres or MikroORM error, if any. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
