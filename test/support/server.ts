import 'reflect-metadata';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { startApp, type RunningApp } from '../../src/app';
import { issueToken } from '../../src/auth/token.service';
import { createLogger } from '../../src/common/logger';
import { loadConfig, type Config } from '../../src/config';
import { freePort } from '../../src/db/embedded-postgres';
import { initOrm, migrateDatabase } from '../../src/db/orm';
import type { DevSecrets } from '../../src/dev/dev-secrets';
import { createTestDatabase, type TestDatabase } from './db';

let secrets: DevSecrets | null = null;
let dataDir: string | null = null;

/** A DATA_DIR of this test file's own (certificate-mode material is generated there). */
function testDataDir(): string {
  dataDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-test-data-'));
  return dataDir;
}

/** Development-style secrets for tests, generated once per test file. */
export function testSecrets(): DevSecrets {
  if (!secrets) {
    const pem = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    secrets = { appPrivateKeyPem: pem(), sandboxAlipayPrivateKeyPem: pem(), jwtSecret: 'test-secret-0123456789abcdef-0123456789' };
  }
  return secrets;
}

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data: T | null;
  errors: Array<{ message: string; extensions?: { code?: string; [k: string]: unknown } }> | undefined;
}

export interface TestServer {
  url: string;
  config: Config;
  db: TestDatabase;
  orm: MikroORM;
  app: RunningApp;
  /** Every log line the server wrote. */
  logs: string[];
  /** The local Alipay's private key: what signs notifies in sandbox mode. */
  alipayKey: KeyObject;
  token(sub: string, roles?: string[], options?: { expiresIn?: string }): Promise<string>;
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<GraphQLResponse<T>>;
  notify(body: string | Buffer, contentType?: string): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** A database to share with other instances (not dropped on close); default: a fresh migrated one of its own. */
  database?: TestDatabase;
  /** Migrate it first, as main.ts does at boot (under the advisory lock). */
  migrate?: boolean;
}

/** The whole service on a real socket and its own fresh database, configured from `env` like production. */
export async function startTestServer(env: Record<string, string> = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const db = options.database ?? (await createTestDatabase());
  const ownDatabase = !options.database;
  const port = await freePort();
  const sandbox = env.ALIPAY_GATEWAY === undefined || env.ALIPAY_GATEWAY === 'sandbox';
  const config = loadConfig(
    {
      NODE_ENV: 'test',
      PORT: String(port),
      DATABASE_URL: db.url,
      DATA_DIR: testDataDir(),
      DB_POOL_SIZE: '5',
      JOBS_ENABLED: 'false',
      ALIPAY_TIMEOUT_MS: '5000',
      // A real gateway never runs on a generated secret: tests give theirs, as an operator must.
      ...(sandbox || env.JWT_PUBLIC_KEY || env.JWKS_URL ? {} : { JWT_SECRET: testSecrets().jwtSecret }),
      // The local Alipay's waits (notify retries: 4 min, 10 min, …) shrink to milliseconds.
      ...(sandbox ? { SANDBOX_TIME_SCALE: '0.0001' } : {}),
      ...env,
    },
    { devSecrets: testSecrets },
  );
  const logs: string[] = [];
  const logger = createLogger('debug', (line) => void logs.push(line));
  let orm: MikroORM | null = null;
  let app: RunningApp | null = null;
  try {
    if (options.migrate) await migrateDatabase(db.url);
    orm = await initOrm(db.url, config.dbPoolSize, config.dbLimits);
    app = await startApp({ config, orm, databaseUrl: db.url, logger });
  } catch (err) {
    await orm?.close();
    if (ownDatabase) await db.drop();
    throw err;
  }
  const url = app.url;
  const running = { orm, app };
  const secret = config.jwt.kind === 'secret' ? config.jwt.secret : new TextEncoder().encode(testSecrets().jwtSecret);
  return {
    url,
    config,
    db,
    orm,
    app,
    logs,
    alipayKey: config.alipay.sandboxPrivateKey as KeyObject,
    token: (sub, roles = [], options = {}) =>
      issueToken(secret, { sub, roles }, { expiresIn: options.expiresIn, issuer: config.jwt.issuer, audience: config.jwt.audience }),
    async gql(query, variables = {}, token = null) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const json = (await res.json()) as { data?: any; errors?: GraphQLResponse['errors'] };
      return { status: res.status, data: json.data ?? null, errors: json.errors };
    },
    async notify(body, contentType = 'application/x-www-form-urlencoded; charset=utf-8') {
      const res = await fetch(`${url}/alipay/notify`, { method: 'POST', headers: { 'content-type': contentType }, body });
      return { status: res.status, text: await res.text() };
    },
    async close() {
      await running.app.close();
      await running.orm.close();
      if (ownDatabase) await db.drop();
    },
  };
}
