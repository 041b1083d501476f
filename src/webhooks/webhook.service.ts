import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { Webhook } from 'standardwebhooks';
import type { ServiceContext } from '../common/context';
import { badInput, forbidden, notFound } from '../common/errors';
import type { Logger } from '../common/logger';
import type { Metrics } from '../common/metrics';
import { SqlFilter } from '../common/filter';
import { connection, decodeCursor, pageSize } from '../common/page';
import { UUID } from '../common/text';
import type { WebhookConfig } from '../config';
import { inTransaction, prepared, type CommitHooks, type CommittedEvent, type SqlExecutor } from '../db/sql';
import { checkReachable, checkWebhookUrl, DestinationError, originOf } from './webhook.destination';
import { WEBHOOK_EVENT_TYPES, WebhookDeliveryStatus, type WebhookEventType } from './webhook.entities';
import { writeOutbox, type EnabledEndpoints, type OutboxEntry } from './webhook.outbox';
import { sendWebhook } from './webhook.sender';

export interface WebhookEndpointRecord {
  id: string;
  url: string;
  events: string[] | null;
  enabled: boolean;
  fromEnv: boolean;
  createdAt: Date;
  disabledAt: Date | null;
}

export interface WebhookAttemptRecord {
  attempt: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
}

export interface WebhookDeliveryRecord {
  id: string;
  eventId: string;
  type: string;
  endpointId: string;
  orderId: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
  createdAt: Date;
  payload: string;
}

/** At most this many enabled endpoints (each event is one delivery per endpoint). */
export const MAX_ENDPOINTS = 20;
/** Deliveries one worker round claims at once (sent concurrently). */
const BATCH = 10;
/** Serializes the environment endpoint's set-up across instances starting together. */
const ENV_ENDPOINT_LOCK_KEY = 7_204_311_002;
/** How long a process trusts its list of enabled endpoints. */
const ENDPOINT_CACHE_MS = 1000;

const ENDPOINT_COLUMNS = `id, url, events, enabled, from_env, created_at, disabled_at`;
type EndpointRow = { id: string; url: string; events: string[] | null; enabled: boolean; from_env: boolean; created_at: Date; disabled_at: Date | null };
const toEndpoint = (r: EndpointRow): WebhookEndpointRecord => ({
  id: r.id,
  url: r.url,
  events: r.events,
  enabled: r.enabled,
  fromEnv: r.from_env,
  createdAt: r.created_at,
  disabledAt: r.disabled_at,
});

const DELIVERY_COLUMNS = `d.id, d.event_id, ev.type, d.endpoint_id, d.order_id, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status_code,
  d.last_error, d.delivered_at, d.created_at, ev.body`;
type DeliveryRow = {
  id: string;
  event_id: string;
  type: string;
  endpoint_id: string;
  order_id: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
  body: string;
};
const toDelivery = (r: DeliveryRow): WebhookDeliveryRecord => ({
  id: r.id,
  eventId: r.event_id,
  type: r.type,
  endpointId: r.endpoint_id,
  orderId: r.order_id,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.status === WebhookDeliveryStatus.PENDING ? r.next_attempt_at : null,
  lastAttemptAt: r.last_attempt_at,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  deliveredAt: r.delivered_at,
  createdAt: r.created_at,
  payload: r.body,
});

/**
 * Claims due deliveries for this instance: PENDING, due, not leased by another instance, of an enabled endpoint,
 * and not behind an earlier event of the same order to the same endpoint that is still pending — so one order's
 * events arrive in the order they happened. Row locks with SKIP LOCKED and the lease make each attempt one
 * instance's.
 */
export const CLAIM_SQL = `
  with due as (
    select d.id from webhook_deliveries d
    join webhook_endpoints e on e.id = d.endpoint_id and e.enabled
    where d.status = 'PENDING' and d.next_attempt_at <= now() and (d.leased_until is null or d.leased_until < now())
      and not exists (
        select 1 from webhook_deliveries p
        where p.endpoint_id = d.endpoint_id and p.order_id = d.order_id and p.seq < d.seq and p.status = 'PENDING')
    order by d.next_attempt_at, d.seq
    limit $1
    for update of d skip locked)
  update webhook_deliveries d set leased_until = now() + make_interval(secs => $2), attempts = d.attempts + 1, updated_at = now()
  from due, webhook_events ev, webhook_endpoints e
  where d.id = due.id and ev.id = d.event_id and e.id = d.endpoint_id
  returning d.id, d.event_id, ev.type, ev.body, d.attempts, e.url, e.secret, e.id as endpoint_id,
    (select count(*)::int from webhook_attempts a where a.delivery_id = d.id) as attempt_rows`;

type Claimed = { id: string; event_id: string; type: string; body: string; attempts: number; url: string; secret: string; endpoint_id: string; attempt_rows: number };

/**
 * Merchant webhooks: the outbox (written in the transaction of the change, see `hooks`), the delivery worker that
 * every instance runs, the environment's endpoint, and the admin operations.
 */
export class WebhookService {
  private readonly written = new WeakMap<readonly CommittedEvent[], OutboxEntry[]>();
  private endpointCache: { at: number; rows: EnabledEndpoints } | null = null;
  private readonly db: SqlExecutor;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(
    private readonly pool: Pool,
    private readonly config: WebhookConfig,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: { development: boolean },
  ) {
    this.db = prepared(pool);
  }

  /** The pool's commit hooks: write the outbox inside the transaction; after the commit, start delivering. */
  readonly hooks: Required<CommitHooks> = {
    beforeCommit: async (tx, events) => {
      const entries = await writeOutbox(tx, events, (db) => this.enabledEndpoints(db), { describeUnsent: this.options.development });
      if (entries.length) this.written.set(events, entries);
    },
    afterCommit: (events) => {
      const entries = this.written.get(events);
      if (!entries) return;
      if (entries.some((e) => e.deliveries > 0)) this.kick();
      if (this.options.development) {
        for (const e of entries.filter((x) => x.deliveries === 0)) {
          this.logger.info('webhook not sent: no endpoint configured (set WEBHOOK_URL and WEBHOOK_SECRET, or run npm run webhooks:listen)', {
            webhookId: e.id,
            webhookType: e.type,
            body: JSON.parse(e.body) as unknown,
          });
        }
      }
    },
  };

  /**
   * The enabled endpoints, read at most once a second per process (a notify's transaction is spared the query). An
   * endpoint created or disabled here is seen at once; one created on another instance within a second.
   */
  private async enabledEndpoints(db: SqlExecutor): Promise<EnabledEndpoints> {
    const cached = this.endpointCache;
    if (cached && Date.now() - cached.at < ENDPOINT_CACHE_MS) return cached.rows;
    const { rows } = await db.query<{ id: string; events: string[] | null }>(`select id, events from webhook_endpoints where enabled`);
    this.endpointCache = { at: Date.now(), rows };
    return rows;
  }

  /** Makes the environment's endpoint (WEBHOOK_URL + WEBHOOK_SECRET) the one enabled `fromEnv` endpoint, or disables them all. */
  async syncEnvironmentEndpoint(): Promise<void> {
    const endpoint = this.config.endpoint;
    await inTransaction(this.pool, async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [ENV_ENDPOINT_LOCK_KEY]);
      const { rows } = await tx.query<{ id: string; url: string; secret: string; enabled: boolean }>(`select id, url, secret, enabled from webhook_endpoints where from_env`);
      const same = endpoint ? rows.find((r) => r.url === endpoint.url && r.secret === endpoint.secret) : undefined;
      for (const r of rows) {
        if (r.id !== same?.id && r.enabled) await this.disableIn(tx, r.id, 'the environment no longer configures this endpoint');
      }
      if (endpoint && !same) {
        await tx.query(`insert into webhook_endpoints (id, url, secret, events, enabled, from_env, created_at) values ($1, $2, $3, null, true, true, now())`, [
          randomUUID(),
          endpoint.url,
          endpoint.secret,
        ]);
      } else if (same && !same.enabled) {
        await tx.query(`update webhook_endpoints set enabled = true, disabled_at = null where id = $1`, [same.id]);
      }
    });
    this.endpointCache = null;
  }

  start(): void {
    this.stopped = false;
    const poll = Math.min(1000, Math.max(20, Math.round(1000 * this.config.timeScale)));
    this.timer = setInterval(() => this.kick(), poll);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Runs a delivery round now (or right after the one running). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.round()
      .catch((err) => this.logger.warn('webhook delivery round failed; the next one retries', { error: err }))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Claims and sends due deliveries until none is due. */
  private async round(): Promise<void> {
    const leaseSeconds = (2 * this.config.timeoutMs + 1000) / 1000;
    for (let i = 0; i < 100 && !this.stopped; i++) {
      const { rows } = await this.db.query<Claimed>(CLAIM_SQL, [BATCH, leaseSeconds]);
      if (!rows.length) return;
      await Promise.all(rows.map((row) => this.attempt(row)));
    }
  }

  private async attempt(row: Claimed): Promise<void> {
    const startedAt = new Date();
    const headers = {
      'webhook-id': row.event_id,
      'webhook-timestamp': String(Math.floor(startedAt.getTime() / 1000)),
      'webhook-signature': new Webhook(row.secret).sign(row.event_id, startedAt, row.body),
    };
    const result = await sendWebhook(row.url, headers, row.body, { timeoutMs: this.config.timeoutMs, allowPrivate: this.config.allowPrivate });
    const attemptNo = row.attempt_rows + 1;
    const wait = result.ok ? null : this.waitAfter(row.attempts);
    const status = result.ok ? WebhookDeliveryStatus.DELIVERED : wait === null ? WebhookDeliveryStatus.FAILED : WebhookDeliveryStatus.PENDING;
    const nextAttemptAt = wait === null ? new Date() : new Date(Date.now() + wait);
    await inTransaction(this.pool, async (tx) => {
      // Only while the lease is still this attempt's (a slower copy after a lease expiry records nothing over it).
      const { rows: updated } = await tx.query(
        `update webhook_deliveries set status = $2, next_attempt_at = $3, leased_until = null, last_attempt_at = $4, last_status_code = $5,
           last_error = $6, delivered_at = case when $2 = 'DELIVERED' then now() else delivered_at end, updated_at = now()
         where id = $1 and attempts = $7 and status = 'PENDING' returning id`,
        [row.id, status, nextAttemptAt, startedAt, result.statusCode, result.error, row.attempts],
      );
      if (!updated.length) return;
      await tx.query(
        `insert into webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt) values ($1, $2, $3, $4, $5, $6, $7)`,
        [row.id, attemptNo, startedAt, result.durationMs, result.statusCode, result.error, result.excerpt],
      );
    });
    const outcome = result.ok ? 'delivered' : status === WebhookDeliveryStatus.FAILED ? 'failed' : 'retry';
    this.metrics.inc('webhook_attempts_total', 'Webhook delivery attempts by outcome (delivered, retry: failed and scheduled again, failed: gave up)', { outcome });
    this.metrics.observe('webhook_attempt_duration_seconds', 'Webhook delivery attempts: time to the answer (or the failure)', { outcome }, result.durationMs / 1000);
    const fields = { deliveryId: row.id, webhookId: row.event_id, webhookType: row.type, endpoint: originOf(row.url), attempt: attemptNo, statusCode: result.statusCode, error: result.error };
    if (outcome === 'retry') this.logger.warn('webhook attempt failed; will retry', { ...fields, nextAttemptAt: nextAttemptAt.toISOString() });
    else if (outcome === 'failed') this.logger.error('WEBHOOK NOT DELIVERED: every attempt failed; redeliverWebhook sends it again', fields);
    else this.logger.debug('webhook delivered', { ...fields, durationMs: result.durationMs });
  }

  /** The wait before the next attempt after `attempts` attempts failed (±10% jitter), or null: give up. */
  private waitAfter(attempts: number): number | null {
    const base = this.config.retryScheduleMs[attempts - 1];
    if (base === undefined) return null;
    return Math.round(base * this.config.timeScale * (0.9 + Math.random() * 0.2));
  }

  // ---- admin operations ----

  private admin(ctx: ServiceContext): void {
    if (!ctx.user.isAdmin) throw forbidden('Admins only');
  }

  async createEndpoint(ctx: ServiceContext, input: { url: string; events?: string[] | null }): Promise<WebhookEndpointRecord & { secret: string }> {
    this.admin(ctx);
    let url: URL;
    try {
      url = checkWebhookUrl(input.url);
      await checkReachable(url, this.config.allowPrivate);
    } catch (err) {
      if (err instanceof DestinationError) throw badInput(`url: ${err.message}`, 'url');
      throw err;
    }
    const events = checkEvents(input.events);
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const record = await inTransaction(this.pool, async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [ENV_ENDPOINT_LOCK_KEY]);
      const { rows: count } = await tx.query<{ n: number }>(`select count(*)::int as n from webhook_endpoints where enabled`);
      if (count[0].n >= MAX_ENDPOINTS) throw badInput(`at most ${MAX_ENDPOINTS} endpoints may be enabled: disable one first`, 'url');
      const { rows } = await tx.query<EndpointRow>(
        `insert into webhook_endpoints (id, url, secret, events, enabled, from_env, created_at) values ($1, $2, $3, $4, true, false, now()) returning ${ENDPOINT_COLUMNS}`,
        [randomUUID(), url.toString(), secret, events],
      );
      return toEndpoint(rows[0]);
    });
    this.endpointCache = null;
    this.logger.info('webhook endpoint created', { endpointId: record.id, endpoint: originOf(record.url), events: record.events ?? 'all', by: ctx.user.id });
    return { ...record, secret };
  }

  async endpoints(ctx: ServiceContext): Promise<WebhookEndpointRecord[]> {
    this.admin(ctx);
    const { rows } = await this.db.query<EndpointRow>(`select ${ENDPOINT_COLUMNS} from webhook_endpoints order by enabled desc, created_at desc, id desc limit 100`);
    return rows.map(toEndpoint);
  }

  async disableEndpoint(ctx: ServiceContext, id: string): Promise<WebhookEndpointRecord> {
    this.admin(ctx);
    if (!UUID.test(id)) throw notFound('Webhook endpoint');
    const record = await inTransaction(this.pool, async (tx) => {
      const { rows } = await tx.query<EndpointRow>(`select ${ENDPOINT_COLUMNS} from webhook_endpoints where id = $1 for update`, [id]);
      if (!rows[0]) throw notFound('Webhook endpoint');
      if (rows[0].from_env) throw badInput('this endpoint is configured by WEBHOOK_URL: unset WEBHOOK_URL and WEBHOOK_SECRET (and restart) to stop it', 'id');
      if (rows[0].enabled) await this.disableIn(tx, id, 'the endpoint was disabled');
      const { rows: after } = await tx.query<EndpointRow>(`select ${ENDPOINT_COLUMNS} from webhook_endpoints where id = $1`, [id]);
      return toEndpoint(after[0]);
    });
    this.endpointCache = null;
    this.logger.info('webhook endpoint disabled', { endpointId: id, by: ctx.user.id });
    return record;
  }

  /** Disables an endpoint; its pending deliveries end FAILED (redeliverable once it is enabled again). */
  private async disableIn(tx: SqlExecutor, id: string, why: string): Promise<void> {
    await tx.query(`update webhook_endpoints set enabled = false, disabled_at = now() where id = $1`, [id]);
    await tx.query(`update webhook_deliveries set status = 'FAILED', last_error = $2, leased_until = null, updated_at = now() where endpoint_id = $1 and status = 'PENDING'`, [
      id,
      why,
    ]);
  }

  async deliveries(ctx: ServiceContext, endpointId: string, firstArg: number | null | undefined, after: string | null | undefined) {
    this.admin(ctx);
    const first = pageSize(firstArg);
    if (!UUID.test(endpointId)) throw notFound('Webhook endpoint');
    const { rows: found } = await this.db.query(`select 1 from webhook_endpoints where id = $1`, [endpointId]);
    if (!found.length) throw notFound('Webhook endpoint');
    const page = new SqlFilter()
      .add('d.endpoint_id = $?', endpointId)
      .page(`select ${DELIVERY_COLUMNS} from webhook_deliveries d join webhook_events ev on ev.id = d.event_id`, { time: 'd.created_at', id: 'd.id' }, after ? decodeCursor(after) : null, first);
    const { rows } = await this.db.query<DeliveryRow>(page.text, page.params);
    return connection(rows.map(toDelivery), first);
  }

  /** The attempts of each delivery (the last 50 of each, oldest first), in one statement for a page of them. */
  async attemptsOfMany(deliveryIds: readonly string[]): Promise<WebhookAttemptRecord[][]> {
    const { rows } = await this.db.query<{
      delivery_id: string;
      attempt: number;
      started_at: Date;
      duration_ms: number;
      status_code: number | null;
      error: string | null;
      response_excerpt: string | null;
    }>(
      `select delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt from (
         select a.*, row_number() over (partition by delivery_id order by id desc) as n from webhook_attempts a where delivery_id = any($1::uuid[])) last
       where n <= 50 order by delivery_id, id`,
      [deliveryIds],
    );
    const byDelivery = new Map<string, WebhookAttemptRecord[]>(deliveryIds.map((id) => [id, []]));
    for (const r of rows) {
      byDelivery.get(r.delivery_id)?.push({
        attempt: r.attempt,
        startedAt: r.started_at,
        durationMs: r.duration_ms,
        statusCode: r.status_code,
        error: r.error,
        responseExcerpt: r.response_excerpt,
      });
    }
    return deliveryIds.map((id) => byDelivery.get(id) ?? []);
  }

  /** Sends a delivery again now, with a fresh retry schedule and the same webhook-id (a receiver dedupes on it). */
  async redeliver(ctx: ServiceContext, deliveryId: string): Promise<WebhookDeliveryRecord> {
    this.admin(ctx);
    if (!UUID.test(deliveryId)) throw notFound('Webhook delivery');
    const record = await inTransaction(this.pool, async (tx) => {
      const { rows } = await tx.query<DeliveryRow & { enabled: boolean }>(
        `select ${DELIVERY_COLUMNS}, e.enabled from webhook_deliveries d join webhook_events ev on ev.id = d.event_id join webhook_endpoints e on e.id = d.endpoint_id
         where d.id = $1 for update of d`,
        [deliveryId],
      );
      if (!rows[0]) throw notFound('Webhook delivery');
      if (!rows[0].enabled) throw badInput('the endpoint of this delivery is disabled', 'deliveryId');
      await tx.query(
        `update webhook_deliveries set status = 'PENDING', attempts = 0, next_attempt_at = now(), schedule_from = now(), leased_until = null, updated_at = now() where id = $1`,
        [deliveryId],
      );
      const { rows: after } = await tx.query<DeliveryRow>(`select ${DELIVERY_COLUMNS} from webhook_deliveries d join webhook_events ev on ev.id = d.event_id where d.id = $1`, [
        deliveryId,
      ]);
      return toDelivery(after[0]);
    });
    this.logger.info('webhook redelivery asked for', { deliveryId, by: ctx.user.id });
    this.kick();
    return record;
  }
}

/** The event types an endpoint asks for: known ones, each once; none (null or empty) means all. */
function checkEvents(events: string[] | null | undefined): WebhookEventType[] | null {
  if (!events || events.length === 0) return null;
  if (events.length > WEBHOOK_EVENT_TYPES.length * 2) throw badInput('events: too many entries', 'events');
  const unknown = events.filter((e) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(e));
  if (unknown.length) throw badInput(`events: unknown event type ${JSON.stringify(unknown[0].slice(0, 40))}; known: ${WEBHOOK_EVENT_TYPES.join(', ')}`, 'events');
  return [...new Set(events)] as WebhookEventType[];
}
