import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { AlipayError, AlipayResponseError, AlipayUnavailableError } from '../alipay/alipay.client';
import type { AlipayProvider, TradeStatusAnswer } from '../alipay/alipay.provider';
import { parseBeijingTime } from '../alipay/alipay.time';
import type { ServiceContext } from '../common/context';
import { alipayUnavailable, AppError } from '../common/errors';
import type { Logger } from '../common/logger';
import { Money } from '../common/money';
import { inEntityManager } from '../db/sql';
import { Order } from '../orders/order.entity';
import type { OrderService } from '../orders/order.service';
import { statusFromAlipay, transition, type TransitionResult } from '../orders/order.state';
import { EventSource, OrderStatus } from '../orders/order.types';
import type { RefundService } from './refund.service';

/** Turns a failed gateway call into the error clients see: ALIPAY_UNAVAILABLE, with Alipay's codes when known. */
export function alipayFailure(err: unknown, what: string): AppError {
  if (err instanceof AlipayError) {
    return alipayUnavailable(`Alipay refused to ${what}: ${err.subMsg ?? err.msg}`, { alipayCode: err.code, alipaySubCode: err.subCode });
  }
  if (err instanceof AlipayUnavailableError || err instanceof AlipayResponseError) {
    return alipayUnavailable(`Could not ${what} at Alipay: ${err.message}`);
  }
  throw err;
}

/**
 * Asking Alipay about orders and closing them there: syncOrder, closeOrder, and the jobs that close expired
 * orders and reconcile pending ones. Whatever Alipay answers is applied through the one transition function,
 * under the order's row lock; Alipay's answers arrive verified by the gateway client.
 */
export class TradeService {
  constructor(
    private readonly orm: MikroORM,
    private readonly alipay: AlipayProvider,
    private readonly orders: OrderService,
    private readonly refunds: RefundService,
    private readonly logger: Logger,
  ) {}

  /** Asks Alipay for the order's trade (and pending refunds) and applies the answer. Owner or admin. */
  async syncOrder(ctx: ServiceContext, orderId: string): Promise<Order> {
    const order = await this.orders.findVisible(ctx, orderId);
    await this.sync(order, ctx.user.isAdmin && order.user.id !== ctx.user.id ? EventSource.ADMIN : EventSource.SYNC, true);
    await this.refunds.settlePending(order.id);
    return this.reload(order.id);
  }

  /**
   * Closes an unpaid order: at Alipay first, then here. If Alipay says the trade was paid meanwhile, the order is
   * marked paid instead. Closing a closed order is a no-op; a paid order cannot be closed (refund it).
   */
  async closeOrder(ctx: ServiceContext, orderId: string): Promise<Order> {
    const order = await this.orders.findVisible(ctx, orderId);
    const source = ctx.user.isAdmin && order.user.id !== ctx.user.id ? EventSource.ADMIN : EventSource.API;
    await this.close(order, source, true);
    const fresh = await this.reload(order.id);
    if (fresh.status === OrderStatus.TRADE_SUCCESS || fresh.status === OrderStatus.TRADE_FINISHED) {
      if (order.status === OrderStatus.WAIT_BUYER_PAY) return fresh; // Alipay says it was paid: now it is, here too
      throw new AppError('ORDER_NOT_CLOSABLE', `Order is ${fresh.status}; a paid order is refunded, not closed`, { status: fresh.status });
    }
    return fresh;
  }

  private reload(id: string): Promise<Order> {
    return this.orm.em.fork().findOneOrFail(Order, { id });
  }

  /** Queries Alipay and applies its answer; `strict` turns gateway failures into ALIPAY_UNAVAILABLE. */
  private async sync(order: Order, source: EventSource, strict: boolean): Promise<TransitionResult | null> {
    if (order.status === OrderStatus.TRADE_CLOSED || order.status === OrderStatus.TRADE_FINISHED) return null;
    let answer: TradeStatusAnswer;
    try {
      answer = await this.alipay.query(order.orderNo);
    } catch (err) {
      if (err instanceof AlipayError && err.subCode === 'ACQ.TRADE_NOT_EXIST') {
        await this.markChecked(order.id);
        return null; // the buyer has not opened the cashier: nothing to apply
      }
      if (!strict) {
        this.logger.warn('could not query Alipay', { orderNo: order.orderNo, error: err });
        return null;
      }
      throw alipayFailure(err, 'query the trade');
    }
    return this.apply(order.id, answer, source);
  }

  /** Applies alipay.trade.query's answer to the order under its row lock. */
  private async apply(orderId: string, answer: TradeStatusAnswer, source: EventSource): Promise<TransitionResult | null> {
    return this.orm.em.fork().transactional(async (tx: EntityManager) => {
      const order = await tx.findOneOrFail(Order, { id: orderId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      order.checkedAt = new Date();
      const total = Money.parseDecimal(answer.totalAmount);
      if (answer.outTradeNo !== order.orderNo || !total || !total.equals(order.amount)) {
        this.logger.error('Alipay answered about another trade or amount; not applied', { orderNo: order.orderNo });
        return null;
      }
      const target = statusFromAlipay(answer.tradeStatus);
      if (!target) return null; // WAIT_BUYER_PAY: nothing to do
      return transition(inEntityManager(tx), order, target, {
        source,
        note: `alipay.trade.query says ${answer.tradeStatus}`,
        tradeNo: answer.tradeNo || undefined,
        buyerId: answer.buyerId ?? undefined,
        paidAt: (answer.paidAt && parseBeijingTime(answer.paidAt)) || undefined,
        refundedAmount: target === OrderStatus.TRADE_CLOSED && order.status === OrderStatus.TRADE_SUCCESS ? order.amount : undefined,
      });
    });
  }

  private async markChecked(orderId: string): Promise<void> {
    await this.orm.em.fork().nativeUpdate(Order, { id: orderId }, { checkedAt: new Date() });
  }

  private async close(order: Order, source: EventSource, strict: boolean): Promise<void> {
    if (order.status !== OrderStatus.WAIT_BUYER_PAY) return;
    let note = 'closed at Alipay';
    try {
      await this.alipay.close(order.orderNo);
    } catch (err) {
      const sub = err instanceof AlipayError ? err.subCode : null;
      if (sub === 'ACQ.TRADE_HAS_SUCCESS' || sub === 'ACQ.TRADE_STATUS_ERROR') {
        await this.sync(order, source, strict); // paid meanwhile: take the payment
        return;
      }
      if (sub === 'ACQ.TRADE_NOT_EXIST') note = 'Alipay has no trade (the buyer never opened the cashier)';
      else if (sub === 'ACQ.TRADE_HAS_CLOSE') note = 'already closed at Alipay';
      else if (!strict) {
        this.logger.warn('could not close at Alipay; will retry', { orderNo: order.orderNo, error: err });
        return;
      } else throw alipayFailure(err, 'close the trade');
    }
    await this.orm.em.fork().transactional(async (tx: EntityManager) => {
      const locked = await tx.findOneOrFail(Order, { id: order.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      await transition(inEntityManager(tx), locked, OrderStatus.TRADE_CLOSED, { source, note });
    });
  }

  /**
   * Job: closes unpaid orders past their expiry, at Alipay and here (a payment found meanwhile is applied). One
   * that cannot be closed now waits its turn (checkedAt) instead of blocking the ones behind it.
   */
  async closeExpired(limit = 50, retryEveryMs = 2 * 60_000): Promise<number> {
    const now = Date.now();
    const due = await this.orm.em.fork().find(
      Order,
      {
        status: OrderStatus.WAIT_BUYER_PAY,
        expiresAt: { $lte: new Date(now) },
        $or: [{ checkedAt: null }, { checkedAt: { $lte: new Date(now - retryEveryMs) } }],
      },
      { orderBy: { checkedAt: 'asc nulls first', expiresAt: 'asc' }, limit },
    );
    for (const order of due) {
      await this.markChecked(order.id);
      await this.close(order, EventSource.JOB, false);
    }
    return due.length;
  }

  /**
   * Job: asks Alipay about unpaid orders a few minutes old that nobody asked about lately, so a notify that never
   * came (dropped, or refused by a firewall) is caught before the order expires.
   */
  async reconcilePending(limit = 20, olderThanMs = 2 * 60_000, everyMs = 5 * 60_000): Promise<number> {
    const now = Date.now();
    const due = await this.orm.em.fork().find(
      Order,
      {
        status: OrderStatus.WAIT_BUYER_PAY,
        createdAt: { $lte: new Date(now - olderThanMs) },
        expiresAt: { $gt: new Date(now) },
        $or: [{ checkedAt: null }, { checkedAt: { $lte: new Date(now - everyMs) } }],
      },
      { orderBy: { checkedAt: 'asc nulls first', createdAt: 'asc' }, limit },
    );
    for (const order of due) await this.sync(order, EventSource.JOB, false);
    return due.length;
  }
}
