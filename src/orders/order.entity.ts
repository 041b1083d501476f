import { Check, Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { User } from '../auth/user.entity';
import { Money } from '../common/money';
import { MoneyType } from '../db/money.type';
import { MoneyScalar } from '../graphql/scalars';
import { OrderStatus } from './order.types';

/**
 * An order: what a user buys and the truth about its payment. `status` is only ever assigned by the transition
 * function in order.state.ts.
 */
@Entity({ tableName: 'orders' })
@Index({ name: 'orders_user_created_idx', properties: ['user', 'createdAt', 'id'] })
@Index({ name: 'orders_status_expires_idx', properties: ['status', 'expiresAt'] })
// The admin list (adminOrders), newest first: unfiltered or by time, and by status.
@Index({ name: 'orders_created_idx', properties: ['createdAt', 'id'] })
@Index({ name: 'orders_status_created_idx', properties: ['status', 'createdAt', 'id'] })
@Index({ name: 'orders_paid_idx', properties: ['paidAt'] })
@Index({
  name: 'orders_alipay_close_until_idx',
  expression: 'create index "orders_alipay_close_until_idx" on "orders" ("alipay_close_until") where "alipay_close_until" is not null',
})
@Unique({
  name: 'orders_user_idempotency_key_unique',
  expression: 'create unique index "orders_user_idempotency_key_unique" on "orders" ("user_id", "idempotency_key") where "idempotency_key" is not null',
})
@Check({ name: 'orders_amount_range', expression: 'amount >= 0.01 and amount <= 100000000.00' })
@Check({ name: 'orders_refunded_range', expression: 'refunded_amount >= 0 and refunded_amount <= amount' })
@ObjectType('Order', { description: 'An order and the state of its Alipay payment' })
export class Order {
  [OptionalProps]?: 'body' | 'status' | 'tradeNo' | 'buyerId' | 'paidAt' | 'closedAt' | 'refundedAmount' | 'idempotencyKey' | 'checkedAt' | 'alipayCloseUntil' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'uuid' })
  @Field(() => ID)
  id!: string;

  /** Alipay's out_trade_no. */
  @Property({ type: 'string', length: 64, unique: 'orders_order_no_unique' })
  @Field({ description: "The merchant order number sent to Alipay as out_trade_no" })
  orderNo!: string;

  @ManyToOne(() => User, { deleteRule: 'restrict' })
  user!: User;

  @Property({ type: 'string', length: 256 })
  @Field()
  subject!: string;

  @Property({ type: 'string', length: 128, nullable: true })
  @Field(() => String, { nullable: true })
  body: string | null = null;

  @Property({ type: MoneyType })
  @Field(() => MoneyScalar)
  amount!: Money;

  /**
   * Read-only to the compiler: only the transition function (order.state.ts) changes it. The column's type is the
   * domain `order_status`, which allows only the OrderStatus values (see the hot-path domains migration).
   */
  @Property({ type: 'text' })
  @Field(() => OrderStatus)
  readonly status: OrderStatus = OrderStatus.WAIT_BUYER_PAY;

  /** Alipay's trade_no, known once Alipay has the trade. */
  @Property({ type: 'string', length: 64, nullable: true })
  @Field(() => String, { nullable: true, description: "Alipay's trade number, once paid" })
  tradeNo: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  buyerId: string | null = null;

  @Property({ type: 'datetime', length: 3, nullable: true })
  @Field(() => Date, { nullable: true })
  paidAt: Date | null = null;

  @Property({ type: 'datetime', length: 3, nullable: true })
  @Field(() => Date, { nullable: true })
  closedAt: Date | null = null;

  @Property({ type: MoneyType, default: 0 })
  @Field(() => MoneyScalar, { description: 'The total refunded so far' })
  refundedAmount: Money = Money.zero();

  /** Unpaid orders close at this instant; pay links carry it as time_expire. */
  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  expiresAt!: Date;

  @Property({ type: 'string', length: 64, nullable: true })
  idempotencyKey: string | null = null;

  /** When Alipay was last asked about this order (by syncOrder or the reconcile job). */
  @Property({ type: 'datetime', length: 3, nullable: true })
  checkedAt: Date | null = null;

  /**
   * Set when the order was closed here while Alipay had no trade yet (the buyer never opened the cashier): the
   * pay link stays payable at Alipay until its time_expire, so the jobs keep closing it there until this instant.
   */
  @Property({ type: 'datetime', length: 3, nullable: true })
  alipayCloseUntil: Date | null = null;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  createdAt: Date = new Date();

  @Property({ type: 'datetime', length: 3, onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
