import { randomBytes, randomUUID } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { AlipayError } from '../alipay/alipay.client';
import type { AlipayProvider } from '../alipay/alipay.provider';
import type { ServiceContext } from '../common/context';
import { AppError, badInput } from '../common/errors';
import type { Logger } from '../common/logger';
import type { Metrics } from '../common/metrics';
import { Money } from '../common/money';
import { IDEMPOTENCY_KEY, textProblem } from '../common/text';
import { inEntityManager, type SqlExecutor } from '../db/sql';
import { Order } from '../orders/order.entity';
import type { OrderRow } from '../orders/order.row';
import type { OrderService } from '../orders/order.service';
import { transition } from '../orders/order.state';
import { EventSource, OrderStatus } from '../orders/order.types';
import { Refund, RefundStatus } from './refund.entity';
import { alipayFailure } from './trade.service';

export interface RefundRequest {
  orderId: string;
  amount: Money;
  reason?: string | null;
  idempotencyKey?: string | null;
}

/**
 * Alipay answers that settle a refund as refused for good. Anything else (system errors, unsigned answers, a
 * query that fails after the refund was accepted) leaves it PENDING: marking it failed would free its amount for
 * a second refund of money that may already have moved.
 */
const FINAL_REFUSALS = new Set([
  'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL',
  'ACQ.TRADE_HAS_CLOSE',
  'ACQ.TRADE_HAS_FINISHED',
  'ACQ.TRADE_NOT_EXIST',
  'ACQ.TRADE_STATUS_ERROR',
  'ACQ.DISCORDANT_REPEAT_REQUEST',
]);

const sum = (amounts: Money[]) => amounts.reduce((a, b) => a.plus(b), Money.zero());

/**
 * Refunds, partial and full, with Alipay's out_request_no as the retry handle. The amount is reserved under the
 * order's row lock before Alipay is called, so concurrent refunds can never add up past what was paid; a refund
 * whose outcome is unknown stays PENDING (still reserved) until a retry, syncOrder, the jobs or Alipay's refund
 * notify settle it. A full refund closes the order through the transition function.
 */
export class RefundService {
  constructor(
    private readonly orm: MikroORM,
    private readonly alipay: AlipayProvider,
    private readonly orders: OrderService,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  async refundOrder(ctx: ServiceContext, request: RefundRequest): Promise<Refund> {
    const reason = request.reason ?? null;
    if (reason !== null) {
      const problem = textProblem(reason, 1, 256);
      if (problem) throw badInput(`reason ${problem}`, 'reason');
    }
    const key = request.idempotencyKey ?? null;
    if (key !== null && !IDEMPOTENCY_KEY.test(key)) throw badInput('idempotencyKey must be 1–64 letters, digits or _ - : .', 'idempotencyKey');
    const order = await this.orders.findVisible(ctx, request.orderId);

    let refund: Refund;
    try {
      refund = await this.reserve(ctx, order.id, request.amount, reason, key);
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException && key) {
        refund = await this.reserve(ctx, order.id, request.amount, reason, key); // lost a race to the same key
      } else throw err;
    }
    if (refund.status !== RefundStatus.PENDING) return refund;
    return this.execute(refund.id, true);
  }

  /** Step 1, under the order's row lock: the refund row that reserves the amount (or the one this key made). */
  private reserve(ctx: ServiceContext, orderId: string, amount: Money, reason: string | null, key: string | null): Promise<Refund> {
    return this.orm.em.fork().transactional(async (tx: EntityManager) => {
      const order = await tx.findOneOrFail(Order, { id: orderId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (key) {
        const earlier = await tx.findOne(Refund, { order, idempotencyKey: key });
        if (earlier) {
          if (!earlier.amount.equals(amount)) throw badInput('idempotencyKey was already used for a refund of another amount', 'idempotencyKey');
          return earlier;
        }
      }
      if (order.status !== OrderStatus.TRADE_SUCCESS) {
        throw new AppError('ORDER_NOT_REFUNDABLE', `Order is ${order.status}; only TRADE_SUCCESS orders can be refunded`, { status: order.status });
      }
      const refunds = await tx.find(Refund, { order, status: { $in: [RefundStatus.PENDING, RefundStatus.SUCCEEDED] } });
      const succeeded = sum(refunds.filter((r) => r.status === RefundStatus.SUCCEEDED).map((r) => r.amount));
      const pending = sum(refunds.filter((r) => r.status === RefundStatus.PENDING).map((r) => r.amount));
      // What Alipay reported refunded counts too, when it is more than our succeeded refunds add up to.
      const reserved = (succeeded.compare(order.refundedAmount) >= 0 ? succeeded : order.refundedAmount).plus(pending);
      if (reserved.plus(amount).compare(order.amount) > 0) {
        const refundable = order.amount.compare(reserved) > 0 ? order.amount.minus(reserved) : Money.zero();
        throw new AppError('REFUND_AMOUNT_EXCEEDED', `At most ${refundable.toString()} can still be refunded`, { refundable: refundable.toString() });
      }
      return tx.create(Refund, {
        id: randomUUID(),
        order,
        outRequestNo: `${order.orderNo}R${randomBytes(5).toString('hex')}`,
        amount,
        reason,
        requestedBy: ctx.user.id,
        idempotencyKey: key,
      });
    });
  }

  /**
   * Step 2: asks Alipay (again, with the same out_request_no) and records what it says. `strict` turns an
   * unreachable Alipay into ALIPAY_UNAVAILABLE; the refund then stays PENDING for a retry.
   */
  private async execute(refundId: string, strict: boolean): Promise<Refund> {
    const em = this.orm.em.fork();
    const refund = await em.findOneOrFail(Refund, { id: refundId }, { populate: ['order'] });
    const order = refund.order;
    let done = false;
    try {
      const answer = await this.alipay.refund({
        outTradeNo: order.orderNo,
        amount: refund.amount.toString(),
        outRequestNo: refund.outRequestNo,
        reason: refund.reason,
      });
      done = answer.done;
    } catch (err) {
      if (err instanceof AlipayError && err.verified && err.subCode && FINAL_REFUSALS.has(err.subCode)) {
        return this.settle(refund.id, RefundStatus.FAILED, `${err.subCode}: ${err.subMsg ?? err.msg}`);
      }
      this.logger.warn('refund outcome unknown; it stays pending', { outRequestNo: refund.outRequestNo, error: err });
      if (!strict) return refund;
      const failure = alipayFailure(err, 'refund');
      throw new AppError('ALIPAY_UNAVAILABLE', `${failure.message}; the refund is pending: retry with the same idempotencyKey, or syncOrder`, {
        refundId: refund.id,
      });
    }
    if (!done) {
      // Accepted, but no money moved in this call (a repeat, or still processing): ask whether the refund exists.
      done = await this.alipay.refundQuery(order.orderNo, refund.outRequestNo).then(
        (a) => a.done,
        () => false,
      );
    }
    return done ? this.settle(refund.id, RefundStatus.SUCCEEDED, null) : refund;
  }

  /** Records a refund's outcome under the order's row lock; a success brings the order's refundedAmount along. */
  private settle(refundId: string, status: RefundStatus.SUCCEEDED | RefundStatus.FAILED, failureReason: string | null): Promise<Refund> {
    return this.orm.em.fork().transactional(async (tx: EntityManager) => {
      const pre = await tx.findOneOrFail(Refund, { id: refundId });
      const order = await tx.findOneOrFail(Order, { id: pre.order.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const refund = await tx.findOneOrFail(Refund, { id: refundId }, { refresh: true });
      if (refund.status !== RefundStatus.PENDING) return refund;
      refund.status = status;
      refund.failureReason = failureReason;
      refund.updatedAt = new Date();
      if (status === RefundStatus.SUCCEEDED) {
        await tx.flush();
        await this.applyRefunded(inEntityManager(tx), order, Money.zero(), EventSource.ADMIN, `refund ${refund.outRequestNo}`);
      }
      return refund;
    });
  }

  /**
   * Brings the order's refundedAmount up to the most that is known to be refunded: Alipay's cumulative refund_fee
   * (from a notify), or the sum of our succeeded refunds, whichever is more, never lowering it. When that is the
   * whole amount of a paid order, the order closes through the transition function. Call it under the order's
   * row lock, with an executor of that transaction.
   */
  async applyRefunded(
    db: SqlExecutor,
    order: Pick<OrderRow, 'id' | 'orderNo' | 'status' | 'amount' | 'tradeNo' | 'refundedAmount'>,
    reported: Money,
    source: EventSource,
    note: string,
  ): Promise<'UNCHANGED' | 'RECORDED' | 'CLOSED'> {
    const { rows } = await db.query<{ total: string | null }>(
      `select sum(amount)::text as total from refunds where order_id = $1 and status = 'SUCCEEDED'`,
      [order.id],
    );
    const succeeded = Money.parseDecimal(rows[0]?.total ?? '0') ?? Money.zero();
    let refunded = order.refundedAmount;
    for (const candidate of [reported, succeeded]) if (candidate.compare(refunded) > 0) refunded = candidate;
    if (refunded.equals(order.refundedAmount)) return 'UNCHANGED';
    if (refunded.compare(order.amount) > 0) {
      this.logger.error('refunded amount above the order amount; not recorded', { orderNo: order.orderNo });
      return 'UNCHANGED';
    }
    if (refunded.equals(order.amount) && order.status === OrderStatus.TRADE_SUCCESS) {
      const closed = await transition(db, order, OrderStatus.TRADE_CLOSED, { source, note, refundedAmount: refunded });
      if (closed.outcome === 'APPLIED') return 'CLOSED';
    }
    await db.query('update orders set refunded_amount = $2, updated_at = $3 where id = $1', [order.id, refunded.toString(), new Date()]);
    return 'RECORDED';
  }

  /**
   * Alipay's refund notify (out_biz_no = out_request_no) confirms a refund. A refund we had marked failed but
   * Alipay made is revived (returns true): its amount was free for another refund, so a person must look.
   */
  async confirmFromNotify(db: SqlExecutor, orderId: string, outRequestNo: string | undefined): Promise<boolean> {
    if (!outRequestNo) return false;
    const { rows } = await db.query<{ was: string }>(
      `with old as (select id, status from refunds where order_id = $1 and out_request_no = $2 and status <> 'SUCCEEDED' for update)
       update refunds r set status = 'SUCCEEDED', updated_at = now() from old where r.id = old.id returning old.status as was`,
      [orderId, outRequestNo],
    );
    const revived = rows[0]?.was === RefundStatus.FAILED;
    if (revived) this.metrics.inc('alipay_payment_alerts_total', 'Payments an order could not take (paid twice, paid after close)');
    return revived;
  }

  /** Asks Alipay about this order's pending refunds (syncOrder). */
  async settlePending(orderId: string): Promise<void> {
    const pending = await this.orm.em.fork().find(Refund, { order: orderId, status: RefundStatus.PENDING });
    for (const refund of pending) await this.execute(refund.id, false);
  }

  /** Job: retries refunds left pending (Alipay was unreachable), with their own out_request_no. */
  async retryPending(limit = 20, olderThanMs = 60_000): Promise<number> {
    const pending = await this.orm.em.fork().find(
      Refund,
      { status: RefundStatus.PENDING, updatedAt: { $lte: new Date(Date.now() - olderThanMs) } },
      { orderBy: { updatedAt: 'asc' }, limit },
    );
    for (const refund of pending) {
      if (Date.now() - refund.createdAt.getTime() > 24 * 3600_000) {
        this.logger.error('REFUND NEEDS ATTENTION: pending for more than a day', { outRequestNo: refund.outRequestNo });
      }
      await this.orm.em.fork().nativeUpdate(Refund, { id: refund.id }, { updatedAt: new Date() });
      await this.execute(refund.id, false);
    }
    return pending.length;
  }

  async refundsOf(em: EntityManager, orderId: string): Promise<Refund[]> {
    return em.find(Refund, { order: orderId }, { orderBy: { createdAt: 'asc' } });
  }
}
