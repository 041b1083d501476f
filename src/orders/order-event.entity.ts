import { Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { Order } from './order.entity';
import { EventSource, OrderEventType, OrderStatus } from './order.types';

/** One entry of an order's history: its creation, a status change, a refused transition, or a callback. */
@Entity({ tableName: 'order_events' })
@Index({ name: 'order_events_order_idx', properties: ['order', 'createdAt'] })
@ObjectType('OrderEvent', { description: "An entry in an order's history" })
export class OrderEvent {
  [OptionalProps]?: 'fromStatus' | 'toStatus' | 'note' | 'createdAt';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  @Field(() => ID)
  id!: string;

  @ManyToOne(() => Order, { deleteRule: 'cascade' })
  order!: Order;

  /** Domain `order_event_type` (only the OrderEventType values), like the statuses and source below. */
  @Property({ type: 'text' })
  @Field(() => OrderEventType)
  type!: OrderEventType;

  @Property({ type: 'text', nullable: true })
  @Field(() => OrderStatus, { nullable: true })
  fromStatus: OrderStatus | null = null;

  @Property({ type: 'text', nullable: true })
  @Field(() => OrderStatus, { nullable: true })
  toStatus: OrderStatus | null = null;

  @Property({ type: 'text' })
  @Field(() => EventSource)
  source!: EventSource;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true, description: 'Why, in words' })
  note: string | null = null;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date, { name: 'at' })
  createdAt: Date = new Date();
}
