import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import { startApp } from '../../src/app';
import { createLogger } from '../../src/common/logger';
import { loadConfig } from '../../src/config';
import { initOrm } from '../../src/db/orm';
import { createTestDatabase, query, type TestDatabase } from '../support/db';
import { testSecrets } from '../support/server';

describe('starting the app', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let squatter: http.Server;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await initOrm(db.url, 2);
    squatter = http.createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    squatter?.close();
    await orm?.close();
    await db?.drop();
  });

  it('stops everything it had started when a later step fails (the port is taken)', async () => {
    const port = (squatter.address() as AddressInfo).port;
    const config = loadConfig({ NODE_ENV: 'test', PORT: String(port), DATABASE_URL: db.url, JOBS_ENABLED: 'true', SANDBOX_TIME_SCALE: '0.001' }, { devSecrets: testSecrets });
    await expect(startApp({ config, orm, databaseUrl: db.url, logger: createLogger('silent') })).rejects.toThrow(`PORT ${port} on 127.0.0.1 is already in use`);
    const open = async () =>
      (await query<{ application_name: string }>(db.url, `select application_name from pg_stat_activity where datname = $1 and application_name in ('order-events', 'alipay-service-sql', 'jobs')`, [db.name])).length;
    for (let i = 0; i < 40 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await open()).toBe(0);
  });
});
