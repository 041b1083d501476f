import { ArrayType, Entity, Enum, Index, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

/** The events a merchant's endpoint can receive. */
export const WEBHOOK_EVENT_TYPES = ['order.paid', 'order.closed', 'order.refunded', 'refund.failed', 'payment.exception', 'reconciliation.mismatch'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export enum WebhookDeliveryStatus {
  /** Waiting for its next attempt (or being attempted). */
  PENDING = 'PENDING',
  /** The endpoint answered 2xx. */
  DELIVERED = 'DELIVERED',
  /** Every attempt of the schedule failed; `redeliverWebhook` starts it again. */
  FAILED = 'FAILED',
}
registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  description: 'Where a webhook delivery stands',
  valuesConfig: {
    PENDING: { description: 'Waiting for its next attempt' },
    DELIVERED: { description: 'The endpoint answered 2xx' },
    FAILED: { description: 'Every attempt of the retry schedule failed; redeliverWebhook starts it again' },
  },
});

/** A merchant endpoint that receives signed webhooks (from WEBHOOK_URL, or created by an admin). */
@Entity({ tableName: 'webhook_endpoints' })
@Index({ name: 'webhook_endpoints_created_idx', properties: ['createdAt', 'id'] })
@ObjectType('WebhookEndpoint', { description: 'A merchant endpoint that receives signed webhooks (the secret is shown once, at creation)' })
export class WebhookEndpoint {
  [OptionalProps]?: 'events' | 'enabled' | 'fromEnv' | 'createdAt' | 'disabledAt';

  @PrimaryKey({ type: 'uuid' })
  @Field(() => ID)
  id!: string;

  @Property({ type: 'text' })
  @Field()
  url!: string;

  /** `whsec_` + base64 of the key; never shown after creation, never logged. */
  @Property({ type: 'text' })
  secret!: string;

  @Property({ type: ArrayType, nullable: true })
  @Field(() => [String], { nullable: true, description: 'The event types it receives; null: all of them' })
  events: string[] | null = null;

  @Property({ type: 'boolean' })
  @Field()
  enabled: boolean = true;

  @Property({ type: 'boolean' })
  @Field({ description: 'Configured by WEBHOOK_URL (changed by the environment, not over GraphQL)' })
  fromEnv: boolean = false;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  createdAt: Date = new Date();

  @Property({ type: 'datetime', length: 3, nullable: true })
  @Field(() => Date, { nullable: true })
  disabledAt: Date | null = null;
}

/**
 * The outbox: one row per event, written in the transaction of the change that caused it. `id` is the
 * `webhook-id` every attempt carries; `body` is the exact JSON every attempt sends; `seq` orders one order's events.
 */
@Entity({ tableName: 'webhook_events' })
@Index({ name: 'webhook_events_order_idx', properties: ['orderId', 'seq'] })
export class WebhookEvent {
  [OptionalProps]?: 'seq' | 'createdAt';

  @PrimaryKey({ type: 'string', length: 64 })
  id!: string;

  @Property({ type: 'bigint', autoincrement: true, unique: 'webhook_events_seq_unique' })
  seq!: string;

  @Property({ type: 'string', length: 32 })
  type!: string;

  @Property({ type: 'uuid', nullable: true })
  orderId!: string | null;

  @Property({ type: 'text' })
  body!: string;

  @Property({ type: 'datetime', length: 3 })
  createdAt: Date = new Date();
}

/** One event on its way to one endpoint. */
@Entity({ tableName: 'webhook_deliveries' })
@Index({ name: 'webhook_deliveries_due_idx', expression: `create index "webhook_deliveries_due_idx" on "webhook_deliveries" ("next_attempt_at") where "status" = 'PENDING'` })
@Index({ name: 'webhook_deliveries_order_idx', properties: ['endpoint', 'orderId', 'seq'] })
@Index({ name: 'webhook_deliveries_endpoint_created_idx', properties: ['endpoint', 'createdAt', 'id'] })
@ObjectType('WebhookDelivery', { description: 'One event on its way to one endpoint, with its attempts' })
export class WebhookDelivery {
  [OptionalProps]?: 'status' | 'attempts' | 'leasedUntil' | 'lastAttemptAt' | 'lastStatusCode' | 'lastError' | 'deliveredAt' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'uuid' })
  @Field(() => ID)
  id!: string;

  @ManyToOne(() => WebhookEvent, { deleteRule: 'cascade' })
  event!: WebhookEvent;

  @ManyToOne(() => WebhookEndpoint, { deleteRule: 'cascade' })
  endpoint!: WebhookEndpoint;

  @Property({ type: 'uuid', nullable: true })
  orderId!: string | null;

  /** The event's seq: a later event of the same order waits while an earlier one to this endpoint is pending. */
  @Property({ type: 'bigint' })
  seq!: string;

  @Enum({ items: () => WebhookDeliveryStatus })
  @Field(() => WebhookDeliveryStatus)
  status: WebhookDeliveryStatus = WebhookDeliveryStatus.PENDING;

  @Property({ type: 'integer' })
  @Field(() => Int)
  attempts: number = 0;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date, { nullable: true, description: 'When the next attempt is due (PENDING only)' })
  nextAttemptAt!: Date;

  /** While an instance is attempting it: no other instance claims it before then. */
  @Property({ type: 'datetime', length: 3, nullable: true })
  leasedUntil: Date | null = null;

  /** Where the retry schedule started (creation, or the last redeliverWebhook). */
  @Property({ type: 'datetime', length: 3 })
  scheduleFrom!: Date;

  @Property({ type: 'datetime', length: 3, nullable: true })
  @Field(() => Date, { nullable: true })
  lastAttemptAt: Date | null = null;

  @Property({ type: 'integer', nullable: true })
  @Field(() => Int, { nullable: true, description: "The HTTP status of the last attempt's answer" })
  lastStatusCode: number | null = null;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true, description: 'Why the last attempt failed' })
  lastError: string | null = null;

  @Property({ type: 'datetime', length: 3, nullable: true })
  @Field(() => Date, { nullable: true })
  deliveredAt: Date | null = null;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  createdAt: Date = new Date();

  @Property({ type: 'datetime', length: 3 })
  updatedAt: Date = new Date();
}

/** One HTTP attempt of a delivery: what came back, how long it took. */
@Entity({ tableName: 'webhook_attempts' })
@Index({ name: 'webhook_attempts_delivery_idx', properties: ['delivery', 'id'] })
@ObjectType('WebhookAttempt', { description: 'One HTTP attempt of a webhook delivery' })
export class WebhookAttempt {
  [OptionalProps]?: 'statusCode' | 'error' | 'responseExcerpt';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @ManyToOne(() => WebhookDelivery, { deleteRule: 'cascade' })
  delivery!: WebhookDelivery;

  @Property({ type: 'integer' })
  @Field(() => Int, { description: '1 for the first attempt' })
  attempt!: number;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  startedAt!: Date;

  @Property({ type: 'integer' })
  @Field(() => Int)
  durationMs!: number;

  @Property({ type: 'integer', nullable: true })
  @Field(() => Int, { nullable: true })
  statusCode: number | null = null;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true, description: 'Why it failed: a timeout, a refused connection, a refused address…' })
  error: string | null = null;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true, description: "The first bytes of the endpoint's answer (control characters removed)" })
  responseExcerpt: string | null = null;
}

export const WEBHOOK_ENTITIES = [WebhookEndpoint, WebhookEvent, WebhookDelivery, WebhookAttempt];
