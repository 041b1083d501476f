import type { KeyObject } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { encodeForm } from '../alipay/alipay.form';
import type { SignType } from '../alipay/alipay.signer';
import { beijingTime } from '../alipay/alipay.time';
import { rateLimitedWarning, type Logger } from '../common/logger';
import { isDatabaseUnavailable } from '../db/sql';
import { signCallback } from './sandbox.callbacks';
import { NotificationStatus } from './sandbox.entities';
import { RETRY_SCHEDULE_MS, type SandboxTrades } from './sandbox.trades';

interface Claimed {
  id: string;
  notify_url: string;
  fields: Record<string, string>;
  attempts: number;
}

/** How long a claimed notify is reserved for the instance delivering it. */
const LEASE_MS = 60_000;
const MAX_REPLY = 200;

/**
 * Delivers the local Alipay's async notifies from the outbox table: signed with the local Alipay's key at each
 * attempt (fresh notify_time, same notify_id), POSTed form-urlencoded, and resent on Alipay's schedule until the
 * merchant answers exactly `success` (8 attempts in all). Several instances can run it: rows are claimed with
 * FOR UPDATE SKIP LOCKED. It also closes unpaid trades whose time_expire has passed.
 */
export class SandboxNotifier {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private again = false;
  private lastSweep = 0;

  constructor(
    private readonly orm: MikroORM,
    private readonly trades: SandboxTrades,
    private readonly alipayKey: KeyObject,
    private readonly options: { timeScale: number; pollMs?: number; timeoutMs?: number },
    private readonly logger: Logger,
  ) {
    this.unavailableWarning = rateLimitedWarning(logger, 'local Alipay: database unavailable; notifies wait', 10_000);
  }

  private readonly unavailableWarning: (fields?: Record<string, unknown>) => void;

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Runs a delivery round now (after a trade changed). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.round()
        .catch((err) =>
          isDatabaseUnavailable(err) ? this.unavailableWarning({ error: err }) : this.logger.error('local Alipay: notify round failed', { error: err }),
        )
        .finally(() => {
          this.running = null;
          if (this.stopped) return;
          const next = this.again ? 0 : (this.options.pollMs ?? 500);
          this.again = false;
          this.schedule(next);
        });
    }, ms);
    this.timer.unref();
  }

  /** One round: close expired trades now and then, then deliver what is due. */
  async round(): Promise<void> {
    if (Date.now() - this.lastSweep > 2000) {
      this.lastSweep = Date.now();
      await this.trades.expireDue();
    }
    for (let batch = await this.claim(); batch.length > 0; batch = await this.claim()) {
      await Promise.all(batch.map((row) => this.deliver(row)));
      if (this.stopped) return;
    }
  }

  private async claim(): Promise<Claimed[]> {
    const rows = await this.orm.em.fork().getConnection().execute<Claimed[]>(
      `update sandbox_notifications set next_attempt_at = now() + (? * interval '1 millisecond')
       where id in (select id from sandbox_notifications where status = ? and next_attempt_at <= now()
                    order by next_attempt_at, id limit 20 for update skip locked)
       returning id, notify_url, fields, attempts`,
      [LEASE_MS, NotificationStatus.PENDING],
    );
    return rows;
  }

  private async deliver(row: Claimed): Promise<void> {
    const signType = (row.fields.sign_type ?? 'RSA2') as SignType;
    const fields = await signCallback({ ...row.fields, notify_time: beijingTime(new Date()) }, this.alipayKey, signType);
    let reply: string;
    try {
      const response = await fetch(row.notify_url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: encodeForm(fields),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
        redirect: 'manual',
      });
      reply = await readCapped(response, MAX_REPLY);
      if (response.status !== 200) reply = `HTTP ${response.status}: ${reply}`;
    } catch (err) {
      reply = `no answer: ${(err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message}`.slice(0, MAX_REPLY);
    }
    const attempts = row.attempts + 1;
    const delivered = reply === 'success';
    // Only the verdict and a short, printable excerpt are kept: whatever the notify_url answers is never stored
    // or shown in full (a notify_url pointed at another service must not make this a way to read it).
    reply = verdictOf(reply);
    const exhausted = attempts > RETRY_SCHEDULE_MS.length;
    const status = delivered ? NotificationStatus.DELIVERED : exhausted ? NotificationStatus.FAILED : NotificationStatus.PENDING;
    const waitMs = delivered || exhausted ? 0 : Math.round(RETRY_SCHEDULE_MS[attempts - 1] * this.options.timeScale);
    // Only if the row is still the one claimed: past its lease another instance may have taken it over.
    await this.orm.em.fork().getConnection().execute(
      `update sandbox_notifications set status = ?, attempts = ?, last_reply = ?, last_attempt_at = now(),
              next_attempt_at = now() + (? * interval '1 millisecond')
       where id = ? and attempts = ? and status = ?`,
      [status, attempts, reply, waitMs, row.id, row.attempts, NotificationStatus.PENDING],
    );
    if (!delivered) {
      this.logger.info('local Alipay: notify not acknowledged', {
        outTradeNo: row.fields.out_trade_no,
        attempts,
        reply,
        next: exhausted ? 'gave up' : `${waitMs} ms`,
      });
    }
  }
}

/** `success`, `failure`, or `other: <first 24 printable characters>`. */
export function verdictOf(reply: string): string {
  if (reply === 'success' || reply === 'failure') return reply;
  return `other: ${reply.replace(/[^\x20-\x7e]/g, '?').slice(0, 24)}`;
}

/** The first `max` characters of a reply, without reading more of a large body than that. */
async function readCapped(response: Response, max: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < max * 4) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
    size += value.length;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).toString('utf8').slice(0, max);
}
