import { MikroORM } from '@mikro-orm/postgresql';
import config from '../../mikro-orm.config';

/** Opens the ORM on a database URL with the shared settings, and a pool of the given size. */
export function initOrm(databaseUrl: string, poolSize = 10): Promise<MikroORM> {
  return MikroORM.init({
    ...config,
    clientUrl: databaseUrl,
    pool: { min: 0, max: poolSize },
    driverOptions: { connection: { application_name: 'alipay-service' } },
  });
}

/** Applies pending migrations; returns their names. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}
