import { Entity, Index, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * Which instance has a subscription open on which order. A status change is announced (pg_notify) only for
 * watched orders: announcing every change would put PostgreSQL's notify lock into every payment's commit.
 * A crashed instance leaves rows behind; they only cause a few needless announcements until they are purged.
 */
@Entity({ tableName: 'order_watchers' })
@Index({ name: 'order_watchers_since_idx', properties: ['since'] })
export class OrderWatcher {
  [OptionalProps]?: 'since';

  @PrimaryKey({ type: 'uuid' })
  orderId!: string;

  @PrimaryKey({ type: 'string', length: 64 })
  instanceId!: string;

  @Property({ type: 'datetime', length: 3 })
  since: Date = new Date();
}
