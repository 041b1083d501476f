import { randomUUID } from 'node:crypto';
import { createPubSub } from '@graphql-yoga/subscription';
import { Client, type Pool } from 'pg';
import type { Logger } from '../common/logger';
import { createPool, DEFAULT_POOL_LIMITS, type PoolLimits } from '../db/sql';
import { ORDER_STATUS_CHANNEL } from '../orders/order.state';

type Topics = { 'order:status': [orderId: string, orderId: string] };

/**
 * Order status changes, fanned out to subscriptions on every instance through PostgreSQL LISTEN/NOTIFY. The
 * transition function sends pg_notify inside its transaction, so a change is announced only once committed.
 * Only watched orders are announced: each instance records its subscribed orders in order_watchers. One listening
 * connection per process; when it drops it reconnects with backoff and then re-announces every subscribed order,
 * so subscribers re-read what they may have missed meanwhile.
 */
export class OrderEvents {
  private readonly pubsub = createPubSub<Topics>();
  private readonly subscribed = new Map<string, number>();
  private readonly instanceId = randomUUID();
  private readonly pool: Pool;
  private client: Client | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
    limits: PoolLimits = DEFAULT_POOL_LIMITS,
  ) {
    this.pool = createPool(databaseUrl, 2, (err) => this.logger.warn('order events: a pooled connection was lost', { error: err }), limits, 'order-events');
  }

  async start(): Promise<void> {
    if (!this.client && !this.retryTimer) {
      // Watchers left by instances that died long ago.
      await this.pool.query(`delete from order_watchers where since < now() - interval '1 day'`);
    }
    await this.listen();
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl, application_name: 'order-events', keepAlive: true, connectionTimeoutMillis: 5_000 });
    client.on('notification', (message) => {
      if (message.channel === ORDER_STATUS_CHANNEL && message.payload) this.announce(message.payload);
    });
    client.on('error', (err) => {
      this.logger.warn('order events connection lost; reconnecting', { error: err });
      this.reconnect(client);
    });
    // A server that closes the connection cleanly (a fast shutdown) may end it without an error event.
    client.on('end', () => {
      if (this.client === client && !this.stopped) {
        this.logger.warn('order events connection ended; reconnecting');
        this.reconnect(client);
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${ORDER_STATUS_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    const reconnected = this.client === null && this.subscribed.size > 0;
    this.client = client;
    if (reconnected) for (const orderId of this.subscribed.keys()) this.announce(orderId);
  }

  private announce(orderId: string): void {
    this.pubsub.publish('order:status', orderId, orderId);
  }

  private reconnect(old: Client, delay = 1000): void {
    if (this.client === old) this.client = null;
    old.end().catch(() => undefined);
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      this.listen().then(
        () => this.logger.info('order events connection restored; subscriptions re-read their orders'),
        () => this.reconnect(old, Math.min(delay * 2, 30_000)),
      );
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * Order ids, each time that order's status changes. Listening (and the watcher row) is in place when this
   * resolves; returning the iterator releases the subscription.
   */
  async subscribe(orderId: string): Promise<AsyncIterable<string>> {
    const source = this.pubsub.subscribe('order:status', orderId)[Symbol.asyncIterator]();
    const count = (this.subscribed.get(orderId) ?? 0) + 1;
    this.subscribed.set(orderId, count);
    if (count === 1) {
      await this.pool.query('insert into order_watchers (order_id, instance_id, since) values ($1, $2, now()) on conflict do nothing', [orderId, this.instanceId]);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.subscribed.get(orderId) ?? 1) - 1;
      if (left > 0) {
        this.subscribed.set(orderId, left);
        return;
      }
      this.subscribed.delete(orderId);
      this.pool
        .query('delete from order_watchers where order_id = $1 and instance_id = $2', [orderId, this.instanceId])
        .catch((err) => this.logger.warn('could not remove an order watcher', { error: err }));
    };
    const iterator: AsyncIterator<string> = {
      next: async () => {
        const result = await source.next();
        if (result.done) release();
        return result;
      },
      return: async () => {
        release();
        return (await source.return?.()) ?? { done: true, value: undefined };
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  /** How many subscriptions are open in this process (for metrics and tests). */
  get activeSubscriptions(): number {
    let n = 0;
    for (const count of this.subscribed.values()) n += count;
    return n;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => undefined);
    this.client = null;
    await this.pool.query('delete from order_watchers where instance_id = $1', [this.instanceId]).catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
