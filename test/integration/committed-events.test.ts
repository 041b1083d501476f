import type { Pool } from 'pg';
import { createPool, inTransaction, onCommitted, prepared, type CommittedEvent } from '../../src/db/sql';
import { createTestDatabase, type TestDatabase } from '../support/db';

describe('business events are announced only once their change is committed', () => {
  let db: TestDatabase;
  let pool: Pool;
  const heard: CommittedEvent[] = [];

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    pool = createPool(db.url, 2, () => undefined);
    await pool.query('create table notes (text text not null)');
    onCommitted(pool, {
      // Writes each event down in the same transaction (what a webhook outbox does).
      async beforeCommit(tx, events) {
        for (const e of events) await tx.query('insert into notes (text) values ($1)', [`event ${e.type}`]);
      },
      afterCommit: (events) => void heard.push(...events),
    });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  beforeEach(async () => {
    heard.length = 0;
    await pool.query('delete from notes');
  });

  const notes = async () => (await pool.query<{ text: string }>('select text from notes order by text')).rows.map((r) => r.text);

  it('announces a committed transaction’s events after the commit, and writes them inside it', async () => {
    await inTransaction(pool, async (tx) => {
      await tx.query(`insert into notes (text) values ('change')`);
      tx.emit({ type: 'order.paid', orderNo: '1' });
      expect(heard).toEqual([]);
    });
    expect(heard).toEqual([{ type: 'order.paid', orderNo: '1' }]);
    expect(await notes()).toEqual(['change', 'event order.paid']);
  });

  it('announces nothing and writes nothing for a transaction that rolls back', async () => {
    await expect(
      inTransaction(pool, async (tx) => {
        await tx.query(`insert into notes (text) values ('change')`);
        tx.emit({ type: 'order.paid', orderNo: '2' });
        throw new Error('the change failed after the event');
      }),
    ).rejects.toThrow('the change failed after the event');
    expect(heard).toEqual([]);
    expect(await notes()).toEqual([]);
  });

  it('announces nothing when the commit itself fails', async () => {
    await pool.query('create table if not exists uniq (k int primary key deferrable initially deferred)');
    await pool.query('delete from uniq');
    await expect(
      inTransaction(pool, async (tx) => {
        await tx.query('insert into uniq values (1), (1)'); // checked at commit
        tx.emit({ type: 'order.paid', orderNo: '3' });
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(heard).toEqual([]);
    expect(await notes()).toEqual([]);
  });

  it('announces an event emitted on the pool at once (its statement has already committed)', async () => {
    prepared(pool).emit({ type: 'order.created', orderNo: '4' });
    expect(heard).toEqual([{ type: 'order.created', orderNo: '4' }]);
  });
});
