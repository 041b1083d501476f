import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { isObjectType } from 'graphql';
import type { MikroORM } from '@mikro-orm/postgresql';
import { initOrm } from '../../src/db/orm';
import { ruleTree } from '../../src/graphql/permissions';
import { buildBareSchema, printAppSchema } from '../../src/graphql/schema';
import { createTestDatabase, type TestDatabase } from '../support/db';

describe('schema.graphql', () => {
  it('is exactly the schema the code builds (run `npm run schema` after changing the API)', async () => {
    const committed = fs.readFileSync(path.join(__dirname, '../../schema.graphql'), 'utf8');
    expect(printAppSchema(await buildBareSchema())).toBe(committed);
  });

  it('has every field of every object type listed in the permission rules, and nothing stale', async () => {
    const schema = await buildBareSchema();
    const fields = Object.values(schema.getTypeMap())
      .filter((t) => isObjectType(t) && !t.name.startsWith('__'))
      .flatMap((t) => Object.keys((t as { getFields(): object }).getFields()).map((f) => `${t.name}.${f}`))
      .sort();
    const listed = Object.entries(ruleTree)
      .flatMap(([type, rules]) => Object.keys(rules).map((f) => `${type}.${f}`))
      .sort();
    expect(listed).toEqual(fields);
  });
});

describe('migrations', () => {
  let db: TestDatabase;
  let orm: MikroORM;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await initOrm(db.url, 1);
  });
  afterAll(async () => {
    await orm?.close();
    await db?.drop();
  });

  it('produce exactly the schema the entities describe (no pending change)', async () => {
    const diff = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
  });

  it('are all applied and none is pending', async () => {
    expect(await orm.getMigrator().getPendingMigrations()).toEqual([]);
    expect((await orm.getMigrator().getExecutedMigrations()).length).toBeGreaterThan(0);
  });
});
