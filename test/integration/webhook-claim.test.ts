import { CLAIM_SQL } from '../../src/webhooks/webhook.service';
import { createTestDatabase, query, type TestDatabase } from '../support/db';

jest.setTimeout(60_000);

describe("the webhook worker's claim with a large backlog", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await query(db.url, `insert into webhook_endpoints (id, url, secret, events, enabled, from_env, created_at) values ('00000000-0000-4000-8000-000000000001', 'http://127.0.0.1:1/x', 'whsec_x', null, true, false, now())`);
    // 40,000 pending deliveries: 2,000 orders with 20 events each, every one due (a receiver that has been down).
    await query(
      db.url,
      `with ev as (
         insert into webhook_events (id, type, order_id, body, created_at)
         select 'msg_' || i, 'order.paid', ('00000000-0000-4000-9000-' || lpad((i % 2000)::text, 12, '0'))::uuid, '{}', now() from generate_series(1, 40000) i
         returning id, seq, order_id)
       insert into webhook_deliveries (id, event_id, endpoint_id, order_id, seq, status, attempts, next_attempt_at, schedule_from, created_at, updated_at)
       select gen_random_uuid(), ev.id, '00000000-0000-4000-8000-000000000001', ev.order_id, ev.seq, 'PENDING', 1, now() - interval '1 minute', now(), now(), now() from ev`,
    );
    await query(db.url, 'analyze webhook_deliveries');
    await query(db.url, 'analyze webhook_events');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('claims, from 40,000 pending deliveries of 2,000 orders, only the first pending event of each order', async () => {
    const claimed = await query<{ event_id: string }>(db.url, CLAIM_SQL, [10, 21]);
    expect(claimed).toHaveLength(10);
    const seqs = await query<{ order_id: string; seq: string; first: string }>(
      db.url,
      `select d.order_id, d.seq, (select min(seq) from webhook_deliveries x where x.order_id = d.order_id) as first from webhook_deliveries d where d.event_id = any($1)`,
      [claimed.map((c) => c.event_id)],
    );
    expect(seqs.every((s) => s.seq === s.first)).toBe(true);
  });
});
