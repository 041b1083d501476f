import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { isObjectType } from 'graphql';
import type { MikroORM } from '@mikro-orm/postgresql';
import { initOrm } from '../../src/db/orm';
import { ruleTree } from '../../src/graphql/permissions';
import { buildBareSchema, printAppSchema } from '../../src/graphql/schema';
import { EventSource, OrderEventType, OrderStatus } from '../../src/orders/order.types';
import { CallbackKind, CallbackVerdict } from '../../src/payments/callback-log.entity';
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

  describe('the enumerated columns of the hot tables (domains, not table constraints)', () => {
    const conn = () => orm.em.getConnection();
    const orderId = '00000000-0000-4000-8000-00000000d0d0';
    beforeAll(async () => {
      await conn().execute(`insert into users (id, created_at) values ('domain-user', now()) on conflict do nothing`);
      await conn().execute(
        `insert into orders (id, order_no, user_id, subject, amount, expires_at, created_at, updated_at)
         values ('${orderId}', 'DOMAIN-1', 'domain-user', 'x', 1.00, now(), now(), now())`,
      );
    });
    /** The SQLSTATE a statement fails with, or null when it succeeds (each in its own rolled-back transaction). */
    const failure = async (sql: string): Promise<string | null> => {
      try {
        await conn().execute(`begin; ${sql}; rollback;`);
        return null;
      } catch (err) {
        await conn().execute('rollback').catch(() => undefined);
        return (err as { code?: string }).code ?? 'unknown';
      }
    };
    const event = (type: string, from: string, to: string, source: string) =>
      `insert into order_events (order_id, type, from_status, to_status, source, created_at) values ('${orderId}', '${type}', ${from}, ${to}, '${source}', now())`;
    const callback = (kind: string, verdict: string) =>
      `insert into callback_logs (kind, raw, verdict, signature_valid, received_at) values ('${kind}', '\\x00', '${verdict}', false, now())`;

    it("allows exactly the values of the code's enumerations: a value added to one needs a migration", async () => {
      // The entities no longer carry these lists (MikroORM's diff does not see a domain's constraint), so this is
      // what notices an enumeration and its domain drifting apart.
      const rows: { domain: string; def: string }[] = await conn().execute(
        `select t.typname as domain, pg_get_constraintdef(c.oid) as def from pg_constraint c join pg_type t on t.oid = c.contypid
          where t.typtype = 'd' and c.contype = 'c' and t.typnamespace = current_schema()::regnamespace order by t.typname`,
      );
      const allowed = Object.fromEntries(rows.map((r) => [r.domain, [...r.def.matchAll(/'([^']*)'::text/g)].map((m) => m[1]).sort()]));
      const sorted = (e: Record<string, string>) => Object.values(e).sort();
      expect(allowed).toEqual({
        callback_kind: sorted(CallbackKind),
        callback_verdict: sorted(CallbackVerdict),
        order_event_source: sorted(EventSource),
        order_event_type: sorted(OrderEventType),
        order_status: sorted(OrderStatus),
      });
    });

    it('refuses a value outside its enumeration with a check violation, and takes every value inside it', async () => {
      expect(await failure(`update orders set status = 'PAID' where id = '${orderId}'`)).toBe('23514');
      expect(await failure(`update orders set status = 'TRADE_SUCCESS' where id = '${orderId}'`)).toBeNull();
      expect(await failure(event('CHANGED', 'null', 'null', 'API'))).toBe('23514');
      expect(await failure(event('STATUS_CHANGED', "'PAID'", "'TRADE_SUCCESS'", 'API'))).toBe('23514');
      expect(await failure(event('STATUS_CHANGED', "'WAIT_BUYER_PAY'", "'trade_success'", 'API'))).toBe('23514');
      expect(await failure(event('STATUS_CHANGED', "'WAIT_BUYER_PAY'", "'TRADE_SUCCESS'", 'WEB'))).toBe('23514');
      expect(await failure(event('STATUS_CHANGED', "'WAIT_BUYER_PAY'", "'TRADE_SUCCESS'", 'NOTIFY'))).toBeNull();
      expect(await failure(event('CREATED', 'null', "'WAIT_BUYER_PAY'", 'API'))).toBeNull();
      expect(await failure(callback('NOTIFY', 'OK'))).toBe('23514');
      expect(await failure(callback('PUSH', 'APPLIED'))).toBe('23514');
      expect(await failure(callback('RETURN', 'REJECTED'))).toBeNull();
      // a value is compared as text, so a surrounding space is another value, not the same one
      expect(await failure(`update orders set status = 'TRADE_SUCCESS ' where id = '${orderId}'`)).toBe('23514');
    });

    it('go down to table constraints and up again with every row kept, no table or index rewritten, and the same rule in force', async () => {
      await conn().execute(event('CREATED', 'null', "'WAIT_BUYER_PAY'", 'API'));
      const rows = async () =>
        (await conn().execute(`select (select count(*) from orders)::int as o, (select count(*) from order_events)::int as e, (select count(*) from callback_logs)::int as c`))[0];
      const before = await rows();
      // the files of the tables and of their indexes: a rewrite or an index rebuild would give them new ones
      const files = async () =>
        (
          await conn().execute(
            `select c.relname, c.relfilenode from pg_class c
              where c.oid in ('orders'::regclass, 'order_events'::regclass, 'callback_logs'::regclass)
                 or c.oid in (select indexrelid from pg_index where indrelid in ('orders'::regclass, 'order_events'::regclass, 'callback_logs'::regclass))
              order by c.relname`,
          )
        ).map((r) => `${r.relname}:${r.relfilenode}`);
      const filesBefore = await files();
      expect(filesBefore.length).toBeGreaterThan(10);
      const migrator = orm.getMigrator();
      await migrator.down({ to: 'Migration20261203104500_hot_path_value_domains' }); // it and any later one
      expect((await migrator.getPendingMigrations())[0]?.name).toBe('Migration20261203104500_hot_path_value_domains');
      try {
        expect(await rows()).toEqual(before);
        expect(await files()).toEqual(filesBefore);
        const domains = await conn().execute(`select count(*)::int as n from pg_type where typtype = 'd' and typname in ('order_status', 'callback_verdict')`);
        expect(domains[0].n).toBe(0);
        expect(await failure(`update orders set status = 'PAID' where id = '${orderId}'`)).toBe('23514');
        expect(await failure(callback('NOTIFY', 'OK'))).toBe('23514');
      } finally {
        await migrator.up();
      }
      expect(await rows()).toEqual(before);
      expect(await files()).toEqual(filesBefore);
      expect(await migrator.getPendingMigrations()).toEqual([]);
      expect(await failure(`update orders set status = 'PAID' where id = '${orderId}'`)).toBe('23514');
      const diff = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
      expect(diff.trim()).toBe('');
    });
  });
});
