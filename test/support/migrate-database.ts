import 'reflect-metadata';
import { initOrm, migrate } from '../../src/db/orm';

/**
 * Migrates the database at argv[2]. Run as a child process by globalSetup: loading MikroORM and type-graphql in
 * jest's parent process would leak their global metadata into the test environments (jest copies globals).
 */
async function run(url: string): Promise<void> {
  const orm = await initOrm(url, 1);
  try {
    await migrate(orm);
  } finally {
    await orm.close();
  }
}

run(process.argv[2]).catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
