import { Entity, Enum, Index, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { Money } from '../common/money';
import { MoneyType } from '../db/money.type';
import { MoneyScalar } from '../graphql/scalars';
import { Order } from '../orders/order.entity';
import { EventSource } from '../orders/order.types';

/** Why a verified payment could not be taken by its order. */
export enum PaymentExceptionKind {
  /** The buyer paid after the order was closed here (the pay link was still live at Alipay). */
  PAID_AFTER_CLOSE = 'PAID_AFTER_CLOSE',
  /** The buyer paid an order a second time, under another trade_no. */
  PAID_TWICE = 'PAID_TWICE',
}

/** Where a payment exception stands. */
export enum PaymentExceptionStatus {
  /** Waiting for an admin: refund it, or keep the money (AUTO_REFUND_UNWANTED_PAYMENTS=false). */
  OPEN = 'OPEN',
  /** A full refund of the trade was asked of Alipay (with the exception's own out_request_no); not confirmed yet. */
  REFUND_PENDING = 'REFUND_PENDING',
  REFUNDED = 'REFUNDED',
  /** Alipay refused the refund for good: an admin must look (REFUND again, or KEEP). */
  REFUND_FAILED = 'REFUND_FAILED',
  /** An admin decided to keep the money. */
  KEPT = 'KEPT',
}

registerEnumType(PaymentExceptionKind, { name: 'PaymentExceptionKind', description: 'Why a verified payment could not be taken by its order' });
registerEnumType(PaymentExceptionStatus, { name: 'PaymentExceptionStatus', description: 'Where a payment exception stands' });

/**
 * A verified payment at Alipay that its order could not take. One row per order and trade_no however often Alipay
 * (or a job) reports it, so it is logged, counted and refunded once. `outRequestNo` is derived from the trade, so
 * retries, replays and several instances all ask Alipay for the same refund.
 */
@Entity({ tableName: 'payment_exceptions' })
@Unique({ name: 'payment_exceptions_order_trade_unique', properties: ['order', 'tradeNo'] })
@Index({ name: 'payment_exceptions_status_idx', properties: ['status', 'updatedAt'] })
@Index({ name: 'payment_exceptions_created_idx', properties: ['createdAt', 'id'] })
@ObjectType('PaymentException', { description: 'A verified payment that its order could not take (paid after close, or paid twice)' })
export class PaymentException {
  [OptionalProps]?: 'status' | 'failureReason' | 'resolvedBy' | 'resolvedAt' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'uuid' })
  @Field(() => ID)
  id!: string;

  @ManyToOne(() => Order, { deleteRule: 'restrict' })
  order!: Order;

  @Property({ type: 'string', length: 64 })
  @Field({ description: "Alipay's trade number of the payment the order could not take" })
  tradeNo!: string;

  @Property({ type: MoneyType })
  @Field(() => MoneyScalar)
  amount!: Money;

  @Enum({ items: () => PaymentExceptionKind })
  @Field(() => PaymentExceptionKind)
  kind!: PaymentExceptionKind;

  @Property({ type: 'text' })
  @Field({ description: 'What happened, in words' })
  reason!: string;

  @Enum({ items: () => EventSource })
  @Field(() => EventSource, { description: 'What found it (a notify, a query, a job)' })
  source!: EventSource;

  @Enum({ items: () => PaymentExceptionStatus })
  @Field(() => PaymentExceptionStatus)
  status: PaymentExceptionStatus = PaymentExceptionStatus.OPEN;

  @Property({ type: 'string', length: 64, unique: 'payment_exceptions_out_request_no_unique' })
  @Field({ description: "The out_request_no of this payment's refund (derived from the trade)" })
  outRequestNo!: string;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true, description: 'Why Alipay refused the refund' })
  failureReason: string | null = null;

  @Property({ type: 'string', length: 128, nullable: true })
  @Field(() => String, { nullable: true, description: 'The admin who decided, when one did' })
  resolvedBy: string | null = null;

  @Property({ type: 'datetime', length: 3, nullable: true })
  @Field(() => Date, { nullable: true })
  resolvedAt: Date | null = null;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  createdAt: Date = new Date();

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  updatedAt: Date = new Date();
}
