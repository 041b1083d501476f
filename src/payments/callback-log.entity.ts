import { Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
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

registerEnumType(CallbackKind, {
  name: 'CallbackKind',
  description: 'Which callback it was',
  valuesConfig: { NOTIFY: { description: 'The async notify (POST /alipay/notify)' }, RETURN: { description: "The buyer's browser return (GET /alipay/return)" } },
});
registerEnumType(CallbackVerdict, {
  name: 'CallbackVerdict',
  description: 'What became of a callback',
  valuesConfig: {
    APPLIED: { description: 'Verified and changed the order' },
    DUPLICATE: { description: 'Verified; the order was already there (a resend, or a concurrent copy)' },
    IGNORED: { description: 'Verified; nothing to do (e.g. WAIT_BUYER_PAY, or a return visit)' },
    REFUSED: { description: 'Verified, but the move it asks for is not allowed; recorded, not applied' },
    REJECTED: { description: 'Not acted on: malformed, not verified, or not matching our order' },
    ERROR: { description: 'Verified, but processing failed; Alipay resends it' },
  },
});

/**
 * Every callback that reached us, as received, with what we made of it. Written even when the callback is
 * rejected or its transaction rolls back, so nothing Alipay (or anyone) sent is ever lost. The order is linked
 * only once the signature has verified, so forged messages cannot write into an order's history.
 */
@Entity({ tableName: 'callback_logs' })
@Index({ name: 'callback_logs_order_idx', properties: ['order', 'receivedAt'] })
@Index({ name: 'callback_logs_notify_id_idx', properties: ['notifyId'] })
// The admin list (Query.callbacks), newest first: unfiltered or by time, by order number, by kind, by verdict.
@Index({ name: 'callback_logs_received_idx', properties: ['receivedAt', 'id'] })
@Index({ name: 'callback_logs_out_trade_no_idx', properties: ['outTradeNo', 'receivedAt', 'id'] })
@Index({ name: 'callback_logs_kind_received_idx', properties: ['kind', 'receivedAt', 'id'] })
@Index({ name: 'callback_logs_verdict_received_idx', properties: ['verdict', 'receivedAt', 'id'] })
@Index({
  name: 'callback_logs_unverified_received_idx',
  expression: 'create index "callback_logs_unverified_received_idx" on "callback_logs" ("received_at") where not "signature_valid"',
})
@ObjectType('Callback', {
  description:
    'A callback as recorded, for admins: what it claimed and what became of it. The raw body (and with it the sign) is never shown.',
})
export class CallbackLog {
  [OptionalProps]?: 'rawLength' | 'rawSha256' | 'reason' | 'signatureValid' | 'order' | 'notifyId' | 'outTradeNo' | 'tradeStatus' | 'remoteAddress' | 'receivedAt';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  @Field(() => ID)
  id!: string;

  /** Domain `callback_kind` (only the CallbackKind values); `verdict` is domain `callback_verdict`. */
  @Property({ type: 'text' })
  @Field(() => CallbackKind)
  kind!: CallbackKind;

  /**
   * The body (notify) or query string (return), byte for byte; for a callback whose signature did not verify only
   * its first 4 KB (anyone can send those: what they may make us store is bounded).
   */
  @Property({ type: 'blob' })
  raw!: Buffer;

  /** The length in bytes of the whole body as received. */
  @Property({ type: 'integer', nullable: true })
  @Field(() => Int, { nullable: true, description: 'The length in bytes of the body (notify) or query string (return) as received' })
  rawLength: number | null = null;

  /** SHA-256 (hex) of the whole body as received. */
  @Property({ type: 'string', length: 64, nullable: true })
  rawSha256: string | null = null;

  @Property({ type: 'text' })
  @Field(() => CallbackVerdict)
  verdict!: CallbackVerdict;

  @Property({ type: 'text', nullable: true })
  @Field(() => String, { nullable: true, description: 'Why, in words' })
  reason: string | null = null;

  @Property({ type: 'boolean' })
  @Field(() => Boolean, { description: 'Whether its signature verified with the Alipay public key (only then are its claims true)' })
  signatureValid: boolean = false;

  @ManyToOne(() => Order, { nullable: true, deleteRule: 'set null' })
  order: Order | null = null;

  /** As claimed by the message (verified only when signatureValid). */
  @Property({ type: 'string', length: 128, nullable: true })
  @Field(() => String, { nullable: true, description: 'notify_id, as claimed' })
  notifyId: string | null = null;

  @Property({ type: 'string', length: 128, nullable: true })
  @Field(() => String, { name: 'orderNo', nullable: true, description: 'out_trade_no, as claimed (the order is linked only when verified)' })
  outTradeNo: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  @Field(() => String, { nullable: true, description: 'trade_status, as claimed' })
  tradeStatus: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  @Field(() => String, { nullable: true, description: 'The address it came from' })
  remoteAddress: string | null = null;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  receivedAt: Date = new Date();
}
