import { createPubSub } from '@graphql-yoga/subscription';
import { Client } from 'pg';
import type { Logger } from '../common/logger';
import { ORDER_STATUS_CHANNEL } from '../orders/order.state';

type Topics = { 'order:status': [orderId: string, orderId: string] };

/**
 * Order status changes, fanned out to subscriptions on every instance through PostgreSQL LISTEN/NOTIFY. The
 * transition function sends pg_notify inside its transaction, so a change is announced only once committed.
 * One listening connection per process, reconnecting with backoff when it drops.
 */
export class OrderEvents {
  private readonly pubsub = createPubSub<Topics>();
  private client: Client | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl, application_name: 'order-events' });
    client.on('notification', (message) => {
      if (message.channel === ORDER_STATUS_CHANNEL && message.payload) {
        this.pubsub.publish('order:status', message.payload, message.payload);
      }
    });
    client.on('error', (err) => {
      this.logger.warn('order events connection lost; reconnecting', { error: err });
      this.reconnect(client);
    });
    await client.connect();
    await client.query(`LISTEN ${ORDER_STATUS_CHANNEL}`);
    this.client = client;
  }

  private reconnect(old: Client, delay = 1000): void {
    old.end().catch(() => undefined);
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      this.start().catch(() => this.reconnect(old, Math.min(delay * 2, 30_000)));
    }, delay);
    this.retryTimer.unref();
  }

  /** Order ids, each time that order's status changes. */
  subscribe(orderId: string): AsyncIterable<string> {
    return this.pubsub.subscribe('order:status', orderId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}
