import { Entity, Enum, Index, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Money } from '../common/money';
import { MoneyType } from '../db/money.type';

/**
 * The local Alipay's own state, in its own tables (sandbox_*), so it survives restarts and several instances can
 * share it. It knows nothing of the service's orders: only apps, trades, refunds, outgoing notifies, scenarios.
 */

/** An app the local Alipay accepts requests from: its id and the public key that verifies its signatures. */
@Entity({ tableName: 'sandbox_apps' })
export class SandboxApp {
  [OptionalProps]?: 'signType' | 'appCertSn' | 'urlPrefixes' | 'createdAt';

  @PrimaryKey({ type: 'string', length: 32 })
  appId!: string;

  @Property({ type: 'text' })
  publicKeyPem!: string;

  @Property({ type: 'string', length: 8 })
  signType: string = 'RSA2';

  /** Certificate mode: requests must carry this app_cert_sn. */
  @Property({ type: 'string', length: 64, nullable: true })
  appCertSn: string | null = null;

  /**
   * Where this app's notify_url, return_url and quit_url may point: each must start with one of these. Null (a
   * development registration without a control token) allows any http(s) URL.
   */
  @Property({ type: 'text[]', nullable: true })
  urlPrefixes: string[] | null = null;

  @Property({ type: 'datetime', length: 3 })
  createdAt: Date = new Date();
}

export enum SandboxTradeStatus {
  WAIT_BUYER_PAY = 'WAIT_BUYER_PAY',
  TRADE_SUCCESS = 'TRADE_SUCCESS',
  TRADE_FINISHED = 'TRADE_FINISHED',
  TRADE_CLOSED = 'TRADE_CLOSED',
}

/** A trade as Alipay holds it, created when the cashier opens (or at precreate). */
@Entity({ tableName: 'sandbox_trades' })
@Unique({ name: 'sandbox_trades_app_out_trade_no_unique', properties: ['appId', 'outTradeNo'] })
export class SandboxTrade {
  [OptionalProps]?: 'status' | 'refundedAmount' | 'body' | 'notifyUrl' | 'returnUrl' | 'quitUrl' | 'timeExpire' | 'paidAt' | 'closedAt' | 'buyerId' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'string', length: 32 })
  appId!: string;

  @Property({ type: 'string', length: 64 })
  outTradeNo!: string;

  @Property({ type: 'string', length: 64, unique: 'sandbox_trades_trade_no_unique' })
  tradeNo!: string;

  /** Unguessable: the cashier page's address. */
  @Property({ type: 'string', length: 64, unique: 'sandbox_trades_cashier_token_unique' })
  cashierToken!: string;

  @Enum({ items: () => SandboxTradeStatus })
  status: SandboxTradeStatus = SandboxTradeStatus.WAIT_BUYER_PAY;

  @Property({ type: MoneyType })
  totalAmount!: Money;

  @Property({ type: MoneyType, default: 0 })
  refundedAmount: Money = Money.zero();

  @Property({ type: 'string', length: 256 })
  subject!: string;

  @Property({ type: 'string', length: 128, nullable: true })
  body: string | null = null;

  /** The pay method that created it: alipay.trade.page.pay, .wap.pay, .app.pay or .precreate. */
  @Property({ type: 'string', length: 64 })
  method!: string;

  @Property({ type: 'text', nullable: true })
  notifyUrl: string | null = null;

  @Property({ type: 'text', nullable: true })
  returnUrl: string | null = null;

  @Property({ type: 'text', nullable: true })
  quitUrl: string | null = null;

  @Property({ type: 'datetime', length: 3, nullable: true })
  timeExpire: Date | null = null;

  @Property({ type: 'string', length: 32, nullable: true })
  buyerId: string | null = null;

  @Property({ type: 'datetime', length: 3 })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', length: 3, nullable: true })
  paidAt: Date | null = null;

  @Property({ type: 'datetime', length: 3, nullable: true })
  closedAt: Date | null = null;
}

/** One accepted refund request; out_request_no makes a retry land on the same row. */
@Entity({ tableName: 'sandbox_refunds' })
@Unique({ name: 'sandbox_refunds_trade_request_unique', properties: ['trade', 'outRequestNo'] })
export class SandboxRefund {
  [OptionalProps]?: 'reason' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @ManyToOne(() => SandboxTrade, { deleteRule: 'cascade' })
  trade!: SandboxTrade;

  @Property({ type: 'string', length: 64 })
  outRequestNo!: string;

  @Property({ type: MoneyType })
  amount!: Money;

  @Property({ type: 'string', length: 256, nullable: true })
  reason: string | null = null;

  @Property({ type: 'datetime', length: 3 })
  createdAt: Date = new Date();
}

export enum NotificationStatus {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  FAILED = 'FAILED',
  DROPPED = 'DROPPED',
}

/** An async notify to deliver (an outbox row), retried on Alipay's schedule until the merchant says `success`. */
@Entity({ tableName: 'sandbox_notifications' })
@Index({ name: 'sandbox_notifications_due_idx', properties: ['status', 'nextAttemptAt'] })
export class SandboxNotification {
  [OptionalProps]?: 'status' | 'attempts' | 'lastReply' | 'lastAttemptAt' | 'createdAt';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @ManyToOne(() => SandboxTrade, { deleteRule: 'cascade' })
  trade!: SandboxTrade;

  @Property({ type: 'text' })
  notifyUrl!: string;

  /** The notify's fields, unsigned; notify_time and sign are set at each attempt. */
  @Property({ type: 'json' })
  fields!: Record<string, string>;

  @Enum({ items: () => NotificationStatus })
  status: NotificationStatus = NotificationStatus.PENDING;

  @Property({ type: 'integer' })
  attempts = 0;

  @Property({ type: 'datetime', length: 3 })
  nextAttemptAt!: Date;

  @Property({ type: 'text', nullable: true })
  lastReply: string | null = null;

  @Property({ type: 'datetime', length: 3, nullable: true })
  lastAttemptAt: Date | null = null;

  @Property({ type: 'datetime', length: 3 })
  createdAt: Date = new Date();
}

/** Failure injection for tests and demos, for one trade (app id + out_trade_no) or for all (`global`). */
export enum Scenario {
  NORMAL = 'NORMAL',
  DROP_NOTIFY = 'DROP_NOTIFY',
  DUPLICATE_NOTIFY = 'DUPLICATE_NOTIFY',
  OUT_OF_ORDER_NOTIFY = 'OUT_OF_ORDER_NOTIFY',
  DELAY_NOTIFY = 'DELAY_NOTIFY',
  BUSY = 'BUSY',
  CLOSE_ON_TIMEOUT = 'CLOSE_ON_TIMEOUT',
}

@Entity({ tableName: 'sandbox_scenarios' })
export class SandboxScenario {
  [OptionalProps]?: 'delayMs' | 'remaining' | 'createdAt';

  /** `global`, or `<app_id>:<out_trade_no>`. */
  @PrimaryKey({ type: 'string', length: 128 })
  scope!: string;

  @Enum({ items: () => Scenario })
  scenario!: Scenario;

  @Property({ type: 'integer', nullable: true })
  delayMs: number | null = null;

  /** BUSY: how many more gateway calls answer 20000 (null = until cleared). */
  @Property({ type: 'integer', nullable: true })
  remaining: number | null = null;

  @Property({ type: 'datetime', length: 3 })
  createdAt: Date = new Date();
}

export const SANDBOX_ENTITIES = [SandboxApp, SandboxTrade, SandboxRefund, SandboxNotification, SandboxScenario];
