import fs from 'node:fs';
import type { RunningPostgres } from '../../src/db/embedded-postgres';

export default async function globalTeardown(): Promise<void> {
  const pg = (globalThis as { __testPostgres?: RunningPostgres }).__testPostgres;
  await pg?.stop();
  if (process.env.TEST_PG_ROOT) fs.rmSync(process.env.TEST_PG_ROOT, { recursive: true, force: true });
}
