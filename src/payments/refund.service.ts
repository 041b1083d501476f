import { randomBytes, randomUUID } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { AlipayError } from '../alipay/alipay.client';
import type { AlipayProvider } from '../alipay/alipay.provider';
import type { ServiceContext } from '../common/context';
import { AppError, badInput } from '../common/errors';
import type { Logger } from '../common/logger';
import { Money } from '../common/money';
import { IDEMPOTENCY_KEY, textProblem } from '../common/text';
import { Order } from '../orders/order.entity';
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
 * Refunds, partial and full, with Alipay's out_request_no as the retry handle. The amount is reserved under the
 * order's row lock before Alipay is called, so concurrent refunds can never add up past what was paid; a refund
 * whose outcome is unknown stays PENDING (still reserved) until a retry, syncOrder or the reconcile job learns
 * it from Alipay. A full refund closes the order through the transition function.
 */
export class RefundService {
  constructor(
    private readonly orm: MikroORM,
    private readonly alipay: AlipayProvider,
    private readonly orders: OrderService,
    private readonly logger: Logger,
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
      const reserved = (await tx.find(Refund, { order, status: { $in: [RefundStatus.PENDING, RefundStatus.SUCCEEDED] } })).reduce(
        (sum, r) => sum.plus(r.amount),
        Money.zero(),
      );
      if (reserved.plus(amount).compare(order.amount) > 0) {
        throw new AppError('REFUND_AMOUNT_EXCEEDED', `At most ${order.amount.minus(reserved).toString()} can still be refunded`, {
          refundable: order.amount.minus(reserved).toString(),
        });
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
    try {
      const answer = await this.alipay.refund({
        outTradeNo: order.orderNo,
        amount: refund.amount.toString(),
        outRequestNo: refund.outRequestNo,
        reason: refund.reason,
      });
      const done = answer.done || (await this.alipay.refundQuery(order.orderNo, refund.outRequestNo)).done;
      return done ? this.settle(refund.id, RefundStatus.SUCCEEDED, null) : refund;
    } catch (err) {
      if (err instanceof AlipayError) {
        return this.settle(refund.id, RefundStatus.FAILED, `${err.subCode ?? err.code}: ${err.subMsg ?? err.msg}`);
      }
      if (!strict) return refund;
      const failure = alipayFailure(err, 'refund');
      throw new AppError('ALIPAY_UNAVAILABLE', `${failure.message}; the refund is pending: retry with the same idempotencyKey, or syncOrder`, {
        refundId: refund.id,
      });
    }
  }

  /** Records a refund's outcome; the order's refundedAmount is the sum of succeeded refunds; in full, it closes. */
  private settle(refundId: string, status: RefundStatus.SUCCEEDED | RefundStatus.FAILED, failureReason: string | null): Promise<Refund> {
    return this.orm.em.fork().transactional(async (tx: EntityManager) => {
      const pre = await tx.findOneOrFail(Refund, { id: refundId });
      const order = await tx.findOneOrFail(Order, { id: pre.order.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const refund = await tx.findOneOrFail(Refund, { id: refundId }, { refresh: true });
      if (refund.status !== RefundStatus.PENDING) return refund;
      refund.status = status;
      refund.failureReason = failureReason;
      refund.updatedAt = new Date();
      if (status === RefundStatus.FAILED) return refund;
      const refunded = (await tx.find(Refund, { order, status: RefundStatus.SUCCEEDED })).reduce((sum, r) => sum.plus(r.amount), Money.zero());
      await this.recordRefunded(tx, order, refunded, EventSource.ADMIN, `refund ${refund.outRequestNo}`);
      return refund;
    });
  }

  /**
   * Sets the order's cumulative refunded amount (never lowering it); a full refund closes the order. Also used
   * by the notify handler for Alipay's refund notifies (refund_fee).
   */
  async recordRefunded(tx: EntityManager, order: Order, refunded: Money, source: EventSource, note: string): Promise<void> {
    if (refunded.compare(order.refundedAmount) <= 0) return;
    if (refunded.compare(order.amount) > 0) {
      this.logger.error('refunded amount above the order amount; not recorded', { orderNo: order.orderNo });
      return;
    }
    if (refunded.equals(order.amount) && order.status === OrderStatus.TRADE_SUCCESS) {
      await transition(tx, order, OrderStatus.TRADE_CLOSED, { source, note, refundedAmount: refunded });
    } else {
      order.refundedAmount = refunded;
      order.updatedAt = new Date();
    }
  }

  /** Marks refunds Alipay confirms (refund notify with out_biz_no) as succeeded, inside the notify transaction. */
  async confirmFromNotify(tx: EntityManager, order: Order, outRequestNo: string | undefined): Promise<void> {
    if (!outRequestNo) return;
    const refund = await tx.findOne(Refund, { order, outRequestNo, status: RefundStatus.PENDING });
    if (refund) {
      refund.status = RefundStatus.SUCCEEDED;
      refund.updatedAt = new Date();
    }
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
      await this.orm.em.fork().nativeUpdate(Refund, { id: refund.id }, { updatedAt: new Date() });
      await this.execute(refund.id, false);
    }
    return pending.length;
  }

  async refundsOf(em: EntityManager, orderId: string): Promise<Refund[]> {
    return em.find(Refund, { order: orderId }, { orderBy: { createdAt: 'asc' } });
  }
}
