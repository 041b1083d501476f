import 'reflect-metadata';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { initOrm, migrate } from '../src/db/orm';

/**
 * `npm run migration:create -- <name>`: applies the existing migrations to a throw-away embedded PostgreSQL, then
 * writes a migration for whatever the entities changed since. Add the new class to src/db/migrations/index.ts.
 */
async function main(): Promise<void> {
  const name = process.argv[2];
  if (!name || !/^[a-z][a-z0-9_]{0,40}$/.test(name)) {
    process.stderr.write('usage: npm run migration:create -- <name in snake_case>\n');
    process.exit(2);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-migration-'));
  const pg = await startEmbeddedPostgres({ root, durable: false });
  const orm = await initOrm(pg.url(), 1);
  try {
    await migrate(orm);
    const initial = (await orm.getMigrator().getExecutedMigrations()).length === 0;
    const result = await orm.getMigrator().createMigration(undefined, false, initial, name);
    if (!result.fileName) process.stdout.write('no changes: no migration written\n');
    else process.stdout.write(`wrote src/db/migrations/${result.fileName}; add it to src/db/migrations/index.ts\n`);
  } finally {
    await orm.close();
    await pg.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
