import { Entity, Enum, Index, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Order } from '../orders/order.entity';

export enum CallbackKind {
  NOTIFY = 'NOTIFY',
  RETURN = 'RETURN',
}

/** What became of a callback. */
export enum CallbackVerdict {
  /** Verified and changed the order. */
  APPLIED = 'APPLIED',
  /** Verified; the order was already there (a resend, or a concurrent copy). */
  DUPLICATE = 'DUPLICATE',
  /** Verified; nothing to do (e.g. WAIT_BUYER_PAY, or a return visit). */
  IGNORED = 'IGNORED',
  /** Verified, but the move it asks for is not allowed (backward, or after close); recorded, not applied. */
  REFUSED = 'REFUSED',
  /** Not acted on: malformed, not verified, or not matching our order. */
  REJECTED = 'REJECTED',
  /** Verified, but processing failed; Alipay will resend. */
  ERROR = 'ERROR',
}

/**
 * Every callback that reached us, as received, with what we made of it. Written even when the callback is
 * rejected or its transaction rolls back, so nothing Alipay (or anyone) sent is ever lost. The order is linked
 * only once the signature has verified, so forged messages cannot write into an order's history.
 */
@Entity({ tableName: 'callback_logs' })
@Index({ name: 'callback_logs_order_idx', properties: ['order', 'receivedAt'] })
@Index({ name: 'callback_logs_notify_id_idx', properties: ['notifyId'] })
@Index({
  name: 'callback_logs_unverified_received_idx',
  expression: 'create index "callback_logs_unverified_received_idx" on "callback_logs" ("received_at") where not "signature_valid"',
})
export class CallbackLog {
  [OptionalProps]?: 'rawLength' | 'rawSha256' | 'reason' | 'signatureValid' | 'order' | 'notifyId' | 'outTradeNo' | 'tradeStatus' | 'remoteAddress' | 'receivedAt';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Enum({ items: () => CallbackKind })
  kind!: CallbackKind;

  /**
   * The body (notify) or query string (return), byte for byte; for a callback whose signature did not verify only
   * its first 4 KB (anyone can send those: what they may make us store is bounded).
   */
  @Property({ type: 'blob' })
  raw!: Buffer;

  /** The length in bytes of the whole body as received. */
  @Property({ type: 'integer', nullable: true })
  rawLength: number | null = null;

  /** SHA-256 (hex) of the whole body as received. */
  @Property({ type: 'string', length: 64, nullable: true })
  rawSha256: string | null = null;

  @Enum({ items: () => CallbackVerdict })
  verdict!: CallbackVerdict;

  @Property({ type: 'text', nullable: true })
  reason: string | null = null;

  @Property({ type: 'boolean' })
  signatureValid = false;

  @ManyToOne(() => Order, { nullable: true, deleteRule: 'set null' })
  order: Order | null = null;

  /** As claimed by the message (verified only when signatureValid). */
  @Property({ type: 'string', length: 128, nullable: true })
  notifyId: string | null = null;

  @Property({ type: 'string', length: 128, nullable: true })
  outTradeNo: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  tradeStatus: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  remoteAddress: string | null = null;

  @Property({ type: 'datetime', length: 3 })
  receivedAt: Date = new Date();
}
