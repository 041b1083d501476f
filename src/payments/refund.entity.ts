import { Entity, Enum, Index, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { Money } from '../common/money';
import { MoneyType } from '../db/money.type';
import { MoneyScalar } from '../graphql/scalars';
import { Order } from '../orders/order.entity';

export enum RefundStatus {
  /** Asked of Alipay, outcome not known yet: counts against the refundable amount; a retry reuses it. */
  PENDING = 'PENDING',
  SUCCEEDED = 'SUCCEEDED',
  /** Alipay refused it: the amount is refundable again. */
  FAILED = 'FAILED',
}

registerEnumType(RefundStatus, { name: 'RefundStatus', description: 'Where a refund stands' });

/** A refund of (part of) a paid order. `outRequestNo` is Alipay's out_request_no: one per refund, reused on retry. */
@Entity({ tableName: 'refunds' })
@Index({ name: 'refunds_order_idx', properties: ['order', 'createdAt'] })
@Index({ name: 'refunds_pending_idx', properties: ['status', 'updatedAt'] })
// The admin list (Query.refunds), newest first: unfiltered, and by status.
@Index({ name: 'refunds_created_idx', properties: ['createdAt', 'id'] })
@Index({ name: 'refunds_status_created_idx', properties: ['status', 'createdAt', 'id'] })
@Unique({ name: 'refunds_order_idempotency_key_unique', properties: ['order', 'idempotencyKey'] })
@ObjectType('Refund', { description: 'A refund of all or part of a paid order' })
export class Refund {
  [OptionalProps]?: 'reason' | 'status' | 'failureReason' | 'idempotencyKey' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'uuid' })
  @Field(() => ID)
  id!: string;

  @ManyToOne(() => Order, { deleteRule: 'restrict' })
  order!: Order;

  @Property({ type: 'string', length: 64, unique: 'refunds_out_request_no_unique' })
  @Field({ description: "Alipay's out_request_no for this refund" })
  outRequestNo!: string;

  @Property({ type: MoneyType })
  @Field(() => MoneyScalar)
  amount!: Money;

  @Property({ type: 'string', length: 256, nullable: true })
  @Field(() => String, { nullable: true })
  reason: string | null = null;

  @Enum({ items: () => RefundStatus })
  @Field(() => RefundStatus)
  status: RefundStatus = RefundStatus.PENDING;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true, description: 'Why Alipay refused it' })
  failureReason: string | null = null;

  @Property({ type: 'string', length: 128 })
  requestedBy!: string;

  /** A client's retry key: the same key for the same order is the same refund (and out_request_no). */
  @Property({ type: 'string', length: 64, nullable: true })
  idempotencyKey: string | null = null;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  createdAt: Date = new Date();

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  updatedAt: Date = new Date();
}
