import type { Pool } from 'pg';
import type { Statement, StatementRow, StatementTotals } from '../../src/alipay/alipay.statement';
import { createLogger } from '../../src/common/logger';
import { Metrics } from '../../src/common/metrics';
import { createPool, onCommitted, type CommittedEvent } from '../../src/db/sql';
import { ReconciliationService } from '../../src/reconciliation/reconciliation.service';
import { createTestDatabase, type TestDatabase } from '../support/db';

jest.setTimeout(120_000);

const ROWS = 200_000;
const DAY = '2026-05-01';

/** A statement of `ROWS` payments made on the fly (as the streaming reader yields them), never held whole. */
function generatedStatement(): Statement {
  let sum = 0n;
  async function* rows(): AsyncGenerator<StatementRow> {
    for (let i = 0; i < ROWS; i++) {
      sum += 1234n;
      yield {
        kind: 'PAYMENT',
        tradeNo: `2026050122${String(i).padStart(18, '0')}`,
        outTradeNo: `R${String(i).padStart(12, '0')}`,
        subject: '对账',
        createdAt: null,
        finishedAt: null,
        orderAmountFen: 1234n,
        receivedFen: 1234n,
        refundRequestNo: null,
        line: i + 6,
      };
    }
  }
  return {
    fileName: '20880000000000010156_20260501_业务明细.csv',
    billDate: DAY,
    account: null,
    rows: rows(),
    totals: (): StatementTotals => ({ payments: { count: ROWS, receivedFen: sum }, refunds: { count: 0, receivedFen: 0n }, exportedAt: null }),
    close: () => undefined,
  };
}

describe('reconciling a day of 200,000 payments', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 4, () => undefined, { statementTimeoutMs: 60_000, acquireTimeoutMs: 5_000 });
    await pool.query(`insert into users (id, created_at) values ('scale', now())`);
    // 200,000 paid orders of that Beijing day, whose numbers and trades the statement repeats.
    await pool.query(
      `insert into orders (id, order_no, user_id, subject, amount, status, refunded_amount, trade_no, paid_at, expires_at, created_at, updated_at)
       select gen_random_uuid(), 'R' || lpad(i::text, 12, '0'), 'scale', '对账', 12.34, 'TRADE_SUCCESS', 0, '2026050122' || lpad(i::text, 18, '0'),
              timestamptz '2026-05-01 00:00:00+08' + (i || ' ms')::interval, now(), now(), now()
       from generate_series(0, ${ROWS - 1}) i`,
    );
    await pool.query('analyze orders');
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('matches every row, streaming in batches, with the heap growing by far less than the day would take', async () => {
    const service = new ReconciliationService(pool, null as never, null as never, createLogger('silent'), new Metrics());
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 20);
    const report = await service.compareStatement(DAY, generatedStatement());
    clearInterval(sampler);
    expect(report).toMatchObject({ status: 'COMPLETED', statementRows: ROWS, matched: ROWS, missingHere: 0, missingAtAlipay: 0, amountMismatches: 0 });
    // Holding the day's rows (batches of 500,000 instead of 500) peaked at 231 MB more here; streaming at about 48 MB.
    expect(peak - before).toBeLessThan(120 * 1024 * 1024);
  });

  it('keeps no line and announces nothing from a statement that fails its check half-way (its totals disagree)', async () => {
    const service = new ReconciliationService(pool, null as never, null as never, createLogger('silent'), new Metrics());
    async function* rows(): AsyncGenerator<StatementRow> {
      for (let i = 0; i < 600; i++) {
        yield { kind: 'PAYMENT', tradeNo: `T${i}`, outTradeNo: `UNKNOWN${i}`, subject: 'x', createdAt: null, finishedAt: null, orderAmountFen: 100n, receivedFen: 100n, refundRequestNo: null, line: i + 6 };
      }
      // What the reader does at the end of a file whose totals disagree with its rows.
      throw new Error('the statement says 601 payments, its rows are 600');
    }
    const statement: Statement = { fileName: 'x', billDate: DAY, account: null, rows: rows(), totals: () => ({ payments: { count: 601, receivedFen: 0n }, refunds: { count: 0, receivedFen: 0n }, exportedAt: null }), close: () => undefined };
    const heard: CommittedEvent[] = [];
    onCommitted(pool, { afterCommit: (events) => void heard.push(...events) });
    const report = await service.compareStatement(DAY, statement);
    expect(heard.filter((e) => e.type === 'reconciliation.mismatch')).toEqual([]);
    expect(report).toMatchObject({ status: 'FAILED', error: 'the statement says 601 payments, its rows are 600', missingHere: 0 });
    expect((await pool.query(`select count(*)::int as n from reconciliation_lines where report_id = $1`, [report.id])).rows[0].n).toBe(0);
  });
});

