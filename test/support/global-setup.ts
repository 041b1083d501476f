import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { clearLeftoverServer, isAlive, startEmbeddedPostgres, type RunningPostgres } from '../../src/db/embedded-postgres';

export const TEMPLATE_DB = 'app_template';
const PREFIX = 'alipay-svc-test-';


/** Removes what crashed runs left behind: their PostgreSQL (if still up) and their temp folders. */
async function cleanStaleRuns(): Promise<void> {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8').trim());
    } catch {
      // no owner recorded: a run that died before starting PostgreSQL
    }
    if (owner && isAlive(owner)) continue;
    await clearLeftoverServer(path.join(dir, 'data')).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One real PostgreSQL for the whole run, started once (jest globalSetup), with a migrated template database
 * from which each test file clones its own database. Test files get the URL through the environment.
 */
export default async function globalSetup(): Promise<void> {
  await cleanStaleRuns().catch(() => undefined);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), PREFIX));
  fs.writeFileSync(path.join(root, 'owner.pid'), String(process.pid));
  const pg = await startEmbeddedPostgres({ root, durable: false });
  (globalThis as { __testPostgres?: RunningPostgres }).__testPostgres = pg;
  process.env.TEST_PG_ROOT = root;

  const admin = new Client({ connectionString: pg.url() });
  await admin.connect();
  await admin.query(`create database ${TEMPLATE_DB}`);
  await admin.end();
  const project = path.resolve(__dirname, '../..');
  execFileSync(
    process.execPath,
    ['-r', path.join(project, 'scripts/swc-register.js'), path.join(__dirname, 'migrate-database.ts'), pg.url(TEMPLATE_DB)],
    { stdio: ['ignore', 'ignore', 'inherit'], cwd: project },
  );
  process.env.TEST_PG_URL = pg.url();
  process.env.TEST_TEMPLATE_DB = TEMPLATE_DB;
}
