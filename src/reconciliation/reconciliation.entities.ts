import { Entity, Enum, Index, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum ReconciliationStatus {
  RUNNING = 'RUNNING',
  /** The statement was read and compared. */
  COMPLETED = 'COMPLETED',
  /** Alipay has no statement for that day (no business, or not generated yet). */
  NO_STATEMENT = 'NO_STATEMENT',
  /** The statement could not be fetched or read (its totals disagreed, it was too large…): see `error`. */
  FAILED = 'FAILED',
}
registerEnumType(ReconciliationStatus, { name: 'ReconciliationStatus', description: 'How a reconciliation run ended' });

export enum MismatchKind {
  /** Alipay took money (or refunded) that we had not recorded. */
  MISSING_HERE = 'MISSING_HERE',
  /** We recorded a payment or refund that the statement does not have. */
  MISSING_AT_ALIPAY = 'MISSING_AT_ALIPAY',
  /** Both have it, with different amounts. */
  AMOUNT_MISMATCH = 'AMOUNT_MISMATCH',
}
registerEnumType(MismatchKind, {
  name: 'ReconciliationMismatchKind',
  description: 'What a reconciliation line found',
  valuesConfig: {
    MISSING_HERE: { description: 'Alipay took money (or refunded) that we had not recorded' },
    MISSING_AT_ALIPAY: { description: 'We recorded a payment or refund that the statement does not have' },
    AMOUNT_MISMATCH: { description: 'Both have it, with different amounts' },
  },
});

/** One run of the daily reconciliation: our books against Alipay's trade statement of one Beijing day. */
@Entity({ tableName: 'reconciliation_reports' })
@Index({ name: 'reconciliation_reports_created_idx', properties: ['createdAt', 'id'] })
@Index({ name: 'reconciliation_reports_date_idx', properties: ['billDate', 'createdAt'] })
@ObjectType('ReconciliationReport', { description: "One reconciliation run: our orders and refunds of a Beijing day against Alipay's statement" })
export class ReconciliationReport {
  [OptionalProps]?: 'statementRows' | 'matched' | 'missingHere' | 'missingAtAlipay' | 'amountMismatches' | 'error' | 'finishedAt' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  @Field(() => ID)
  id!: string;

  @Property({ type: 'string', length: 10 })
  @Field({ description: 'The Beijing day, YYYY-MM-DD' })
  billDate!: string;

  @Enum({ items: () => ReconciliationStatus })
  @Field(() => ReconciliationStatus)
  status!: ReconciliationStatus;

  @Property({ type: 'string', length: 16 })
  @Field({ description: 'What started it: JOB (the daily run) or ADMIN' })
  trigger!: string;

  @Property({ type: 'integer' })
  @Field(() => Int, { description: 'Payment and refund rows in the statement' })
  statementRows: number = 0;

  @Property({ type: 'integer' })
  @Field(() => Int)
  matched: number = 0;

  @Property({ type: 'integer' })
  @Field(() => Int)
  missingHere: number = 0;

  @Property({ type: 'integer' })
  @Field(() => Int)
  missingAtAlipay: number = 0;

  @Property({ type: 'integer' })
  @Field(() => Int)
  amountMismatches: number = 0;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true })
  error: string | null = null;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  createdAt: Date = new Date();

  @Property({ type: 'datetime', length: 3, nullable: true })
  @Field(() => Date, { nullable: true })
  finishedAt: Date | null = null;
}

/** One mismatch a run found. */
@Entity({ tableName: 'reconciliation_lines' })
@Index({ name: 'reconciliation_lines_report_idx', properties: ['report', 'id'] })
@ObjectType('ReconciliationLine', { description: 'One mismatch between our books and the statement' })
export class ReconciliationLine {
  [OptionalProps]?: 'outTradeNo' | 'tradeNo' | 'refundRequestNo' | 'oursAmount' | 'alipayAmount' | 'action';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @ManyToOne(() => ReconciliationReport, { deleteRule: 'cascade' })
  report!: ReconciliationReport;

  @Enum({ items: () => MismatchKind })
  @Field(() => MismatchKind)
  kind!: MismatchKind;

  @Property({ type: 'string', length: 16 })
  @Field({ description: 'PAYMENT or REFUND' })
  entry!: string;

  @Property({ type: 'string', length: 64, nullable: true })
  @Field(() => String, { nullable: true, description: 'Our order number (out_trade_no)' })
  outTradeNo: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  @Field(() => String, { nullable: true, description: "Alipay's trade number" })
  tradeNo: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  @Field(() => String, { nullable: true, description: "The refund's out_request_no" })
  refundRequestNo: string | null = null;

  @Property({ type: 'string', length: 20, nullable: true })
  @Field(() => String, { nullable: true, description: 'The amount in our books, yuan' })
  oursAmount: string | null = null;

  @Property({ type: 'string', length: 20, nullable: true })
  @Field(() => String, { nullable: true, description: 'The amount in the statement, yuan' })
  alipayAmount: string | null = null;

  @Property({ type: 'text' })
  @Field({ description: 'What differs, in words' })
  detail!: string;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true, description: 'What the run did about it (e.g. synced the order from Alipay)' })
  action: string | null = null;
}

export const RECONCILIATION_ENTITIES = [ReconciliationReport, ReconciliationLine];
