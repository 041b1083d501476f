import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { AlipayProvider } from '../alipay/alipay.provider';
import { beijingDate, beijingDayRange, beijingTime } from '../alipay/alipay.time';
import { formatFen, openStatement, type Statement, type StatementRow } from '../alipay/alipay.statement';
import type { ServiceContext } from '../common/context';
import { badInput, forbidden, notFound } from '../common/errors';
import type { Logger } from '../common/logger';
import type { Metrics } from '../common/metrics';
import { Money } from '../common/money';
import { SqlFilter } from '../common/filter';
import { connection, decodeCursor, pageSize } from '../common/page';
import { UUID } from '../common/text';
import { inTransaction, prepared, withClient, type SqlExecutor } from '../db/sql';
import { EventSource } from '../orders/order.types';
import type { TradeService } from '../payments/trade.service';
import { MismatchKind, ReconciliationStatus } from './reconciliation.entities';

export interface ReconciliationReportRecord {
  id: string;
  billDate: string;
  status: ReconciliationStatus;
  trigger: string;
  statementRows: number;
  matched: number;
  missingHere: number;
  missingAtAlipay: number;
  amountMismatches: number;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface ReconciliationLineRecord {
  id: string;
  kind: MismatchKind;
  entry: 'PAYMENT' | 'REFUND';
  outTradeNo: string | null;
  tradeNo: string | null;
  refundRequestNo: string | null;
  oursAmount: string | null;
  alipayAmount: string | null;
  detail: string;
  action: string | null;
}

/** Rows compared per round trip; mismatch lines written per statement. */
const BATCH = 500;
/** Orders synced from Alipay per run (a day with more missing payments is synced over the next runs). */
const MAX_SYNCS = 1000;
/** Mismatches logged one per line per run (the rest are counted in the summary line). */
const MAX_LOGGED = 50;
/** Mismatches announced as `reconciliation.mismatch` webhooks per run. */
const MAX_EVENTS = 1000;
/** Only one run at a time across all instances. */
const RECONCILE_LOCK_KEY = 7_204_311_003;

/** The Beijing day a caller named, as an instant range [start, end): BAD_USER_INPUT unless it is a calendar day. */
function beijingDay(billDate: string): { start: Date; end: Date } {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(billDate)) throw badInput('date must be YYYY-MM-DD', 'date');
  const range = beijingDayRange(billDate);
  if (!range) throw badInput('date is not a calendar day', 'date');
  return range;
}

const fenOf = (decimal: string): bigint => Money.parseDecimal(decimal)?.fen ?? -1n;

const REPORT_COLUMNS = `id, bill_date, status, trigger, statement_rows, matched, missing_here, missing_at_alipay, amount_mismatches, error, created_at, finished_at`;
type ReportRow = {
  id: string;
  bill_date: string;
  status: ReconciliationStatus;
  trigger: string;
  statement_rows: number;
  matched: number;
  missing_here: number;
  missing_at_alipay: number;
  amount_mismatches: number;
  error: string | null;
  created_at: Date;
  finished_at: Date | null;
};
const toReport = (r: ReportRow): ReconciliationReportRecord => ({
  id: r.id,
  billDate: r.bill_date,
  status: r.status,
  trigger: r.trigger,
  statementRows: r.statement_rows,
  matched: r.matched,
  missingHere: r.missing_here,
  missingAtAlipay: r.missing_at_alipay,
  amountMismatches: r.amount_mismatches,
  error: r.error,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

type Line = Omit<ReconciliationLineRecord, 'id'>;

/** A mismatch line's columns, the same in the staging table and in reconciliation_lines. */
const LINE_COLUMNS = 'kind, entry, out_trade_no, trade_no, refund_request_no, ours_amount, alipay_amount, detail, action';
type LineRow = {
  kind: MismatchKind;
  entry: 'PAYMENT' | 'REFUND';
  out_trade_no: string | null;
  trade_no: string | null;
  refund_request_no: string | null;
  ours_amount: string | null;
  alipay_amount: string | null;
  detail: string;
  action: string | null;
};
const toLine = (r: LineRow): Line => ({
  kind: r.kind,
  entry: r.entry,
  outTradeNo: r.out_trade_no,
  tradeNo: r.trade_no,
  refundRequestNo: r.refund_request_no,
  oursAmount: r.ours_amount,
  alipayAmount: r.alipay_amount,
  detail: r.detail,
  action: r.action,
});

/** The running totals of one comparison. */
class Tally {
  statementRows = 0;
  matched = 0;
  missingHere = 0;
  missingAtAlipay = 0;
  amountMismatches = 0;
  count(kind: MismatchKind): void {
    if (kind === MismatchKind.MISSING_HERE) this.missingHere++;
    else if (kind === MismatchKind.MISSING_AT_ALIPAY) this.missingAtAlipay++;
    else this.amountMismatches++;
  }
}

/**
 * The daily reconciliation: Alipay's trade statement of one Beijing day against our orders and refunds of that
 * day. The statement is streamed and compared in batches against indexed queries; what was seen is kept in
 * temporary tables of the run's own connection, so a day of any size runs in bounded memory.
 */
export class ReconciliationService {
  private readonly db: SqlExecutor;

  constructor(
    private readonly pool: Pool,
    private readonly alipay: AlipayProvider,
    private readonly trades: TradeService,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.db = prepared(pool);
  }

  /** An admin's run for any past or current Beijing day. */
  async reconcile(ctx: ServiceContext, billDate: string): Promise<ReconciliationReportRecord> {
    if (!ctx.user.isAdmin) throw forbidden('Admins only');
    const { start } = beijingDay(billDate);
    if (start.getTime() > Date.now()) throw badInput('date is in the future', 'date');
    return this.runDay(billDate, 'ADMIN');
  }

  /**
   * The job's step: once `reconcileAt` (minutes after Beijing midnight) has passed, reconciles yesterday unless a
   * run for it already completed (or found no statement); a failed run is tried again at most every 10 minutes.
   */
  async runDaily(reconcileAtMinutes: number, now = new Date()): Promise<ReconciliationReportRecord | null> {
    const [hours, minutes] = beijingTime(now).slice(11, 16).split(':').map(Number);
    if (hours * 60 + minutes < reconcileAtMinutes) return null;
    const yesterday = beijingDate(new Date(now.getTime() - 86_400_000));
    const { start, end } = beijingDay(yesterday);
    // Done: compared, or "no statement" for a day on which we recorded no money either (a late bill is asked for
    // again). Anything else is tried again, at most every 10 minutes.
    const { rows } = await this.db.query<{ done: boolean; recent_failure: boolean }>(
      `select bool_or(status = 'COMPLETED' or (status = 'NO_STATEMENT' and not exists (
                select 1 from orders where paid_at >= $2 and paid_at < $3))) as done,
              bool_or(status <> 'COMPLETED' and created_at > now() - interval '10 minutes') as recent_failure
       from reconciliation_reports where bill_date = $1 and trigger = 'JOB'`,
      [yesterday, start, end],
    );
    if (rows[0]?.done || rows[0]?.recent_failure) return null;
    try {
      return await this.runDay(yesterday, 'JOB', { skipIfBusy: true });
    } catch (err) {
      if (err instanceof ReconcileBusy) return null; // another instance has it
      throw err;
    }
  }

  private async runDay(billDate: string, trigger: 'JOB' | 'ADMIN', options: { skipIfBusy?: boolean } = {}): Promise<ReconciliationReportRecord> {
    // One connection for the whole run: the session's advisory lock and the temp tables live on it.
    return withClient(this.pool, async (client) => {
      const { rows: locked } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [RECONCILE_LOCK_KEY]);
      if (!locked[0].ok) {
        if (options.skipIfBusy) throw new ReconcileBusy();
        throw badInput('a reconciliation is running already; try again when it has finished', 'date');
      }
      try {
        const reportId = await this.startReport(billDate, trigger);
        let statement: Statement | null;
        try {
          const answer = await this.alipay.billDownloadUrl(billDate);
          if ('none' in answer) {
            return await this.finish(reportId, ReconciliationStatus.NO_STATEMENT, new Tally(), `no statement: ${answer.subCode}${answer.subMsg ? ` (${answer.subMsg})` : ''}`);
          }
          statement = await openStatement(await this.alipay.downloadStatement(answer.url), { billDate });
        } catch (err) {
          return await this.fail(reportId, err);
        }
        return await this.compare(client, reportId, billDate, statement);
      } finally {
        await client.query('select pg_advisory_unlock($1)', [RECONCILE_LOCK_KEY]);
      }
    });
  }

  /** Compares an opened statement with our books of that day (used by runs, and by tests with a made statement). */
  async compareStatement(billDate: string, statement: Statement, trigger = 'ADMIN'): Promise<ReconciliationReportRecord> {
    return withClient(this.pool, async (client) => this.compare(client, await this.startReport(billDate, trigger), billDate, statement));
  }

  private async startReport(billDate: string, trigger: string): Promise<string> {
    const id = randomUUID();
    await this.db.query(`insert into reconciliation_reports (id, bill_date, status, trigger, statement_rows, matched, missing_here, missing_at_alipay, amount_mismatches, created_at) values ($1, $2, 'RUNNING', $3, 0, 0, 0, 0, 0, now())`, [
      id,
      billDate,
      trigger,
    ]);
    return id;
  }

  /**
   * The comparison. Mismatch lines are staged in a temporary table of the run's connection and become the report's
   * lines only once the whole statement has been read and its totals agree with its rows: a statement that fails
   * half-way leaves no lines and sends nothing.
   */
  private async compare(client: PoolClient, reportId: string, billDate: string, statement: Statement): Promise<ReconciliationReportRecord> {
    const tally = new Tally();
    const toSync: Array<{ orderNo: string; tradeNo: string }> = [];
    const run = prepared(client);
    try {
      await client.query('create temp table if not exists recon_seen_payments (out_trade_no text primary key)');
      await client.query('create temp table if not exists recon_seen_refunds (out_request_no text primary key)');
      await client.query(`create temp table if not exists recon_lines (n serial, kind text, entry text, out_trade_no text, trade_no text, refund_request_no text,
        ours_amount text, alipay_amount text, detail text, action text)`);
      await client.query('truncate recon_seen_payments, recon_seen_refunds, recon_lines');
      let batch: StatementRow[] = [];
      const flush = async () => {
        await stageLines(run, await this.compareBatch(run, batch, tally, toSync));
        batch = [];
      };
      for await (const row of statement.rows) {
        tally.statementRows++;
        batch.push(row);
        if (batch.length >= BATCH) await flush();
      }
      await flush(); // the statement's totals were checked against its rows when the iteration ended
      await stageLines(run, await this.missingAtAlipay(run, billDate, tally));
    } catch (err) {
      statement.close();
      return this.fail(reportId, err);
    }
    // Payments Alipay made that we had not taken: asked about by their trade_no, through the verified query.
    for (const { orderNo, tradeNo } of toSync.slice(0, MAX_SYNCS)) {
      const action = await this.trades.syncFromStatement(orderNo, tradeNo, EventSource.JOB).catch((err: Error) => `could not query Alipay: ${err.message.slice(0, 200)}`);
      await run.query(`update recon_lines set action = $3 where out_trade_no = $1 and trade_no = $2 and kind = 'MISSING_HERE' and entry = 'PAYMENT'`, [
        orderNo,
        tradeNo,
        action ?? 'not an order of this service',
      ]);
    }
    await run.query(
      `insert into reconciliation_lines (report_id, ${LINE_COLUMNS}) select $1, ${LINE_COLUMNS} from recon_lines order by n`,
      [reportId],
    );
    await this.announce(run, reportId, billDate);
    return this.finish(reportId, ReconciliationStatus.COMPLETED, tally, null);
  }

  /**
   * Each mismatch counts in the metric; the ones the day's previous completed run did not already report are
   * logged (the first 50) and sent as `reconciliation.mismatch` webhooks (the first 1000), so running a day again
   * announces only what is new.
   */
  private async announce(run: SqlExecutor, reportId: string, billDate: string): Promise<void> {
    const { rows: counts } = await run.query<{ kind: MismatchKind; n: number }>(`select kind, count(*)::int as n from recon_lines group by kind`);
    for (const c of counts) this.metrics.inc('reconciliation_mismatches_total', 'Mismatches between our books and the Alipay statement, by kind', { kind: c.kind }, c.n);
    const { rows: fresh } = await run.query<LineRow>(
      `with previous as (
         select id from reconciliation_reports where bill_date = $1 and status = 'COMPLETED' and id <> $2 order by created_at desc limit 1)
       select ${LINE_COLUMNS} from recon_lines l
       where not exists (
         select 1 from reconciliation_lines p, previous where p.report_id = previous.id and p.kind = l.kind and p.entry = l.entry
           and p.out_trade_no is not distinct from l.out_trade_no and p.trade_no is not distinct from l.trade_no
           and p.refund_request_no is not distinct from l.refund_request_no and p.ours_amount is not distinct from l.ours_amount
           and p.alipay_amount is not distinct from l.alipay_amount)
       order by l.n limit $3`,
      [billDate, reportId, MAX_EVENTS],
    );
    const lines = fresh.map(toLine);
    if (!lines.length) return;
    await inTransaction(this.pool, async (tx) => {
      for (const line of lines) tx.emit({ type: 'reconciliation.mismatch', reportId, billDate, ...line });
    });
    lines.slice(0, MAX_LOGGED).forEach((line) => this.logger.warn('RECONCILIATION MISMATCH', { billDate, reportId, ...line }));
  }

  /** One batch of statement rows against our orders, refunds and payment exceptions: the mismatch lines. */
  private async compareBatch(db: SqlExecutor, rows: StatementRow[], tally: Tally, toSync: Array<{ orderNo: string; tradeNo: string }>): Promise<Line[]> {
    if (!rows.length) return [];
    const lines: Line[] = [];
    const mismatch = (line: Line) => {
      tally.count(line.kind);
      lines.push(line);
    };
    const payments = rows.filter((r) => r.kind === 'PAYMENT');
    const refunds = rows.filter((r) => r.kind === 'REFUND');
    const orderNos = [...new Set(rows.map((r) => r.outTradeNo).filter(Boolean))];
    const { rows: orders } = await db.query<{ order_no: string; amount: string; status: string; trade_no: string | null }>(
      `select order_no, amount::text as amount, status, trade_no from orders where order_no = any($1::text[])`,
      [orderNos],
    );
    const byNo = new Map(orders.map((o) => [o.order_no, o]));
    const tradeNos = payments.map((r) => r.tradeNo);
    const { rows: exceptions } = await db.query<{ trade_no: string; amount: string }>(`select trade_no, amount::text as amount from payment_exceptions where trade_no = any($1::text[])`, [tradeNos]);
    const exceptionTrades = new Map(exceptions.map((e) => [e.trade_no, e]));

    for (const row of payments) {
      const base = { entry: 'PAYMENT' as const, outTradeNo: row.outTradeNo || null, tradeNo: row.tradeNo, refundRequestNo: null, alipayAmount: formatFen(row.orderAmountFen), action: null };
      const order = byNo.get(row.outTradeNo);
      const exception = exceptionTrades.get(row.tradeNo);
      if (exception) {
        // A payment its order could not take, already recorded (and refunded or decided) as a payment exception.
        if (fenOf(exception.amount) === row.orderAmountFen) tally.matched++;
        else mismatch({ ...base, kind: MismatchKind.AMOUNT_MISMATCH, oursAmount: exception.amount, detail: `payment exception for trade ${row.tradeNo}: ${exception.amount} here, ${formatFen(row.orderAmountFen)} in the statement` });
        continue;
      }
      if (!order) {
        mismatch({ ...base, kind: MismatchKind.MISSING_HERE, oursAmount: null, detail: row.outTradeNo ? `order ${row.outTradeNo} is not an order of this service` : 'a payment without an order number (not made through this service)' });
        continue;
      }
      const taken = order.trade_no === row.tradeNo && order.status !== 'WAIT_BUYER_PAY';
      if (!taken) {
        mismatch({
          ...base,
          kind: MismatchKind.MISSING_HERE,
          oursAmount: order.amount,
          detail: order.trade_no && order.trade_no !== row.tradeNo ? `Alipay has trade ${row.tradeNo} for this order, which took trade ${order.trade_no}` : `Alipay has the payment; the order is ${order.status} here`,
        });
        toSync.push({ orderNo: order.order_no, tradeNo: row.tradeNo });
        continue;
      }
      const ours = fenOf(order.amount);
      const problems: string[] = [];
      if (ours !== row.orderAmountFen) problems.push(`order amount ${order.amount} here, ${formatFen(row.orderAmountFen)} in the statement`);
      if (row.receivedFen !== row.orderAmountFen && ours === row.orderAmountFen) problems.push(`the merchant received ${formatFen(row.receivedFen)} of ${formatFen(row.orderAmountFen)} (discounts)`);
      if (problems.length) mismatch({ ...base, kind: MismatchKind.AMOUNT_MISMATCH, oursAmount: order.amount, detail: problems.join('; ') });
      else tally.matched++;
    }

    const requestNos = [...new Set(refunds.map((r) => r.refundRequestNo).filter((n): n is string => Boolean(n)))];
    const { rows: ourRefunds } = await db.query<{ out_request_no: string; amount: string; status: string; order_no: string }>(
      `select r.out_request_no, r.amount::text as amount, r.status, o.order_no from refunds r join orders o on o.id = r.order_id where r.out_request_no = any($1::text[])
       union all
       select e.out_request_no, e.amount::text, case when e.status = 'REFUNDED' then 'SUCCEEDED' else e.status::text end, o.order_no
       from payment_exceptions e join orders o on o.id = e.order_id where e.out_request_no = any($1::text[])`,
      [requestNos],
    );
    const refundByNo = new Map(ourRefunds.map((r) => [r.out_request_no, r]));
    for (const row of refunds) {
      const amount = -row.orderAmountFen;
      const base = { entry: 'REFUND' as const, outTradeNo: row.outTradeNo || null, tradeNo: row.tradeNo, refundRequestNo: row.refundRequestNo, alipayAmount: formatFen(amount), action: null };
      const ours = row.refundRequestNo ? refundByNo.get(row.refundRequestNo) : undefined;
      if (!ours || ours.status !== 'SUCCEEDED') {
        mismatch({
          ...base,
          kind: MismatchKind.MISSING_HERE,
          oursAmount: ours?.amount ?? null,
          detail: ours ? `refund ${row.refundRequestNo} is ${ours.status} here; Alipay made it` : `refund ${row.refundRequestNo ?? '(no request number)'} is not a refund of this service`,
        });
      } else if (fenOf(ours.amount) !== amount) {
        mismatch({ ...base, kind: MismatchKind.AMOUNT_MISMATCH, oursAmount: ours.amount, detail: `refund amount ${ours.amount} here, ${formatFen(amount)} in the statement` });
      } else tally.matched++;
    }
    const paidNos = [...new Set(payments.map((r) => r.outTradeNo).filter(Boolean))];
    if (paidNos.length) await db.query(`insert into recon_seen_payments select unnest($1::text[]) on conflict do nothing`, [paidNos]);
    if (requestNos.length) await db.query(`insert into recon_seen_refunds select unnest($1::text[]) on conflict do nothing`, [requestNos]);
    return lines;
  }

  /** Our payments and refunds of that day that the statement does not have, a page at a time. */
  private async missingAtAlipay(db: SqlExecutor, billDate: string, tally: Tally): Promise<Line[]> {
    const { start, end } = beijingDay(billDate);
    const lines: Line[] = [];
    const { rows: payments } = await db.query<{ order_no: string; trade_no: string | null; amount: string }>(
      `select o.order_no, o.trade_no, o.amount::text as amount from orders o
       where o.paid_at >= $1 and o.paid_at < $2 and o.trade_no is not null
         and not exists (select 1 from recon_seen_payments s where s.out_trade_no = o.order_no)
       order by o.paid_at limit 100000`,
      [start, end],
    );
    for (const p of payments) {
      tally.count(MismatchKind.MISSING_AT_ALIPAY);
      lines.push({ kind: MismatchKind.MISSING_AT_ALIPAY, entry: 'PAYMENT', outTradeNo: p.order_no, tradeNo: p.trade_no, refundRequestNo: null, oursAmount: p.amount, alipayAmount: null, detail: 'paid here; the statement has no such payment', action: null });
    }
    const { rows: refunds } = await db.query<{ out_request_no: string; amount: string; order_no: string; trade_no: string | null }>(
      `select r.out_request_no, r.amount::text as amount, o.order_no, o.trade_no from refunds r join orders o on o.id = r.order_id
       where r.status = 'SUCCEEDED' and r.updated_at >= $1 and r.updated_at < $2
         and not exists (select 1 from recon_seen_refunds s where s.out_request_no = r.out_request_no)
       order by r.updated_at limit 100000`,
      [start, end],
    );
    for (const r of refunds) {
      tally.count(MismatchKind.MISSING_AT_ALIPAY);
      lines.push({ kind: MismatchKind.MISSING_AT_ALIPAY, entry: 'REFUND', outTradeNo: r.order_no, tradeNo: r.trade_no, refundRequestNo: r.out_request_no, oursAmount: r.amount, alipayAmount: null, detail: 'refunded here; the statement has no such refund', action: null });
    }
    return lines;
  }

  private async finish(reportId: string, status: ReconciliationStatus, tally: Tally, error: string | null): Promise<ReconciliationReportRecord> {
    const { rows } = await this.db.query<ReportRow>(
      `update reconciliation_reports set status = $2, statement_rows = $3, matched = $4, missing_here = $5, missing_at_alipay = $6, amount_mismatches = $7, error = $8, finished_at = now()
       where id = $1 returning ${REPORT_COLUMNS}`,
      [reportId, status, tally.statementRows, tally.matched, tally.missingHere, tally.missingAtAlipay, tally.amountMismatches, error],
    );
    const report = toReport(rows[0]);
    this.metrics.inc('reconciliation_runs_total', 'Reconciliation runs by outcome', { status });
    const fields = { reportId, billDate: report.billDate, trigger: report.trigger, statementRows: report.statementRows, matched: report.matched, missingHere: report.missingHere, missingAtAlipay: report.missingAtAlipay, amountMismatches: report.amountMismatches, error };
    if (status === ReconciliationStatus.FAILED) this.logger.error('reconciliation failed', fields);
    else this.logger.info('reconciliation done', fields);
    return report;
  }

  private async fail(reportId: string, err: unknown): Promise<ReconciliationReportRecord> {
    const message = err instanceof Error ? err.message : String(err);
    return this.finish(reportId, ReconciliationStatus.FAILED, new Tally(), message.slice(0, 500));
  }

  // ---- reading reports ----

  async reports(ctx: ServiceContext, firstArg: number | null | undefined, after: string | null | undefined) {
    if (!ctx.user.isAdmin) throw forbidden('Admins only');
    const first = pageSize(firstArg);
    const page = new SqlFilter().page(`select ${REPORT_COLUMNS} from reconciliation_reports`, { time: 'created_at', id: 'id' }, after ? decodeCursor(after) : null, first);
    const { rows } = await this.db.query<ReportRow>(page.text, page.params);
    return connection(rows.map(toReport), first);
  }

  async lines(reportId: string, firstArg: number | null | undefined): Promise<ReconciliationLineRecord[]> {
    if (!UUID.test(reportId)) throw notFound('Reconciliation report');
    const first = Math.min(Math.max(firstArg ?? 100, 1), 1000);
    const { rows } = await this.db.query<LineRow & { id: string }>(
      `select id::text, ${LINE_COLUMNS} from reconciliation_lines where report_id = $1 order by id limit $2`,
      [reportId, first],
    );
    return rows.map((r) => ({ id: r.id, ...toLine(r) }));
  }
}

/** Adds mismatch lines to the run's staging table (on the run's own connection). */
async function stageLines(run: SqlExecutor, lines: Line[]): Promise<void> {
  if (!lines.length) return;
  await run.query(
    `insert into recon_lines (${LINE_COLUMNS})
     select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`,
    [
      lines.map((l) => l.kind),
      lines.map((l) => l.entry),
      lines.map((l) => l.outTradeNo),
      lines.map((l) => l.tradeNo),
      lines.map((l) => l.refundRequestNo),
      lines.map((l) => l.oursAmount),
      lines.map((l) => l.alipayAmount),
      lines.map((l) => l.detail),
      lines.map((l) => l.action),
    ],
  );
}

class ReconcileBusy extends Error {
  constructor() {
    super('another instance is reconciling');
  }
}
