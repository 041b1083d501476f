import type { Pool } from 'pg';
import { AlipayError } from '../alipay/alipay.client';
import type { AlipayProvider, TradeStatusAnswer } from '../alipay/alipay.provider';
import { parseBeijingTime } from '../alipay/alipay.time';
import type { ServiceContext } from '../common/context';
import { AppError } from '../common/errors';
import type { Logger } from '../common/logger';
import { Money } from '../common/money';
import { inTransaction, prepared, type SqlExecutor } from '../db/sql';
import { lockOrder, readOrder, type OrderRecord } from '../orders/order.row';
import type { OrderService } from '../orders/order.service';
import { statusFromAlipay, transition, type TransitionResult } from '../orders/order.state';
import { EventSource, OrderStatus } from '../orders/order.types';
import { alipayFailure } from './alipay-failure';
import type { PaymentExceptionService } from './payment-exception.service';
import type { RefundService } from './refund.service';

/** How long past a pay link's time_expire a close here keeps being repeated at Alipay (clock skew between hosts). */
export const CLOSE_GRACE_MS = 2 * 60_000;

/**
 * Asking Alipay about orders and closing them there: syncOrder, closeOrder, and the jobs that close expired
 * orders, repeat closes Alipay could not make yet, and reconcile pending orders. Whatever Alipay answers is
 * applied through the one transition function under the order's row lock (`lockOrder`); a payment the order
 * cannot take becomes a payment exception. Alipay's answers arrive verified by the gateway client.
 */
export class TradeService {
  private readonly db: SqlExecutor;

  constructor(
    private readonly pool: Pool,
    private readonly alipay: AlipayProvider,
    private readonly orders: OrderService,
    private readonly refunds: RefundService,
    private readonly exceptions: PaymentExceptionService,
    private readonly logger: Logger,
  ) {
    this.db = prepared(pool);
  }

  /** Asks Alipay for the order's trade (and pending refunds) and applies the answer. Owner or admin. */
  async syncOrder(ctx: ServiceContext, orderId: string): Promise<OrderRecord> {
    const order = await this.orders.findVisible(ctx, orderId);
    await this.sync(order, ctx.user.isAdmin && order.userId !== ctx.user.id ? EventSource.ADMIN : EventSource.SYNC, true);
    await this.refunds.settlePending(order.id);
    return this.reload(order.id);
  }

  /**
   * Closes an unpaid order: at Alipay first, then here. If Alipay says the trade was paid meanwhile, the order is
   * marked paid instead. If Alipay has no trade yet (the buyer never opened the cashier), the order closes here
   * and the jobs keep closing it at Alipay until its pay links have expired. Closing a closed order is a no-op;
   * a paid order cannot be closed (refund it).
   */
  async closeOrder(ctx: ServiceContext, orderId: string): Promise<OrderRecord> {
    const order = await this.orders.findVisible(ctx, orderId);
    const source = ctx.user.isAdmin && order.userId !== ctx.user.id ? EventSource.ADMIN : EventSource.API;
    await this.close(order, source, true);
    const fresh = await this.reload(order.id);
    if (fresh.status === OrderStatus.TRADE_SUCCESS || fresh.status === OrderStatus.TRADE_FINISHED) {
      if (order.status === OrderStatus.WAIT_BUYER_PAY) return fresh; // Alipay says it was paid: now it is, here too
      throw new AppError('ORDER_NOT_CLOSABLE', `Order is ${fresh.status}; a paid order is refunded, not closed`, { status: fresh.status });
    }
    return fresh;
  }

  /**
   * Reconciliation found a payment Alipay made for this order that we had not taken (its notify was lost, or it is
   * a second trade, or it came after the order closed here): asks Alipay about exactly that trade (alipay.trade.query
   * by trade_no, verified like syncOrder's) and applies the answer. The order is paid, or, if it cannot take the
   * payment, a payment exception is recorded (and refunded when so configured). Returns what happened, in words,
   * or null when there is no such order.
   */
  async syncFromStatement(orderNo: string, tradeNo: string, source: EventSource): Promise<string | null> {
    const order = await readOrder(this.db, { orderNo });
    if (!order) return null;
    let answer: TradeStatusAnswer;
    try {
      answer = await this.alipay.query(order.orderNo, tradeNo);
    } catch (err) {
      return `could not query Alipay: ${(err as Error).message.slice(0, 200)}`;
    }
    if (answer.tradeNo !== tradeNo) return `queried Alipay: it answered about trade ${answer.tradeNo || '(none)'}, not ${tradeNo}; nothing applied`;
    const result = await this.apply(order.id, answer, source);
    if (!result) return `queried Alipay (${answer.tradeStatus}): nothing to apply`;
    if (result.outcome === 'APPLIED') return `queried Alipay and applied it: ${result.from} → ${result.to}`;
    if (result.outcome === 'EXCEPTION') return `queried Alipay: ${result.kind}, recorded as a payment exception`;
    if (result.outcome === 'REPEATED') return 'queried Alipay: already applied';
    return `queried Alipay: refused (${result.reason})`;
  }

  private async reload(id: string): Promise<OrderRecord> {
    const order = await this.orders.byId(id);
    if (!order) throw new Error(`order ${id} vanished`);
    return order;
  }

  /** Queries Alipay and applies its answer; `strict` turns gateway failures into ALIPAY_UNAVAILABLE. */
  private async sync(order: OrderRecord, source: EventSource, strict: boolean): Promise<TransitionResult | null> {
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

  /**
   * Applies alipay.trade.query's answer to the order under its row lock. A paid trade the order cannot take
   * (it was closed here) is recorded as a payment exception in the same transaction.
   */
  private async apply(orderId: string, answer: TradeStatusAnswer, source: EventSource): Promise<TransitionResult | null> {
    const applied = await inTransaction(this.pool, async (tx) => {
      const order = await lockOrder(tx, { id: orderId });
      if (!order) return null;
      await tx.query('update orders set checked_at = now() where id = $1', [order.id]);
      const total = Money.parseDecimal(answer.totalAmount);
      if (answer.outTradeNo !== order.orderNo || !total || !total.equals(order.amount)) {
        this.logger.error('Alipay answered about another trade or amount; not applied', { orderNo: order.orderNo });
        return null;
      }
      const target = statusFromAlipay(answer.tradeStatus);
      if (!target) return null; // WAIT_BUYER_PAY: nothing to do
      const outcome = await transition(tx, order, target, {
        source,
        note: `alipay.trade.query says ${answer.tradeStatus}`,
        tradeNo: answer.tradeNo || undefined,
        buyerId: answer.buyerId ?? undefined,
        paidAt: (answer.paidAt && parseBeijingTime(answer.paidAt)) || undefined,
        refundedAmount: target === OrderStatus.TRADE_CLOSED && order.status === OrderStatus.TRADE_SUCCESS ? order.amount : undefined,
      });
      const recorded =
        outcome.outcome === 'EXCEPTION' && answer.tradeNo
          ? await this.exceptions.record(tx, order, { tradeNo: answer.tradeNo, amount: total, kind: outcome.kind, reason: outcome.reason, source })
          : null;
      return { outcome, recorded };
    });
    if (applied?.recorded) this.exceptions.announce(applied.recorded);
    return applied?.outcome ?? null;
  }

  private async markChecked(orderId: string): Promise<void> {
    await this.db.query('update orders set checked_at = now() where id = $1', [orderId]);
  }

  private async close(order: OrderRecord, source: EventSource, strict: boolean): Promise<void> {
    if (order.status !== OrderStatus.WAIT_BUYER_PAY) return;
    let note = 'closed at Alipay';
    let closeAtAlipayUntil: Date | null = null;
    try {
      await this.alipay.close(order.orderNo);
    } catch (err) {
      const sub = err instanceof AlipayError ? err.subCode : null;
      if (sub === 'ACQ.TRADE_HAS_SUCCESS' || sub === 'ACQ.TRADE_STATUS_ERROR') {
        await this.sync(order, source, strict); // paid meanwhile: take the payment
        return;
      }
      if (sub === 'ACQ.TRADE_NOT_EXIST') {
        // The pay link can still open a trade at Alipay until its time_expire: keep closing it there until then.
        const until = new Date(order.expiresAt.getTime() + CLOSE_GRACE_MS);
        if (until.getTime() > Date.now()) closeAtAlipayUntil = until;
        note = closeAtAlipayUntil
          ? 'Alipay has no trade yet (the buyer never opened the cashier): closed here, and closed again at Alipay until the pay link expires'
          : 'Alipay has no trade (the buyer never opened the cashier) and the pay link has expired';
      } else if (sub === 'ACQ.TRADE_HAS_CLOSE') note = 'already closed at Alipay';
      else if (!strict) {
        this.logger.warn('could not close at Alipay; will retry', { orderNo: order.orderNo, error: err });
        return;
      } else throw alipayFailure(err, 'close the trade');
    }
    await inTransaction(this.pool, async (tx) => {
      const locked = await lockOrder(tx, { id: order.id });
      if (!locked) return;
      const result = await transition(tx, locked, OrderStatus.TRADE_CLOSED, { source, note });
      if (result.outcome === 'APPLIED' && closeAtAlipayUntil) {
        await tx.query('update orders set alipay_close_until = $2 where id = $1', [order.id, closeAtAlipayUntil]);
      }
    });
  }

  /**
   * Job: closes unpaid orders past their expiry, at Alipay and here (a payment found meanwhile is applied). One
   * that cannot be closed now waits its turn (checked_at) instead of blocking the ones behind it.
   */
  async closeExpired(limit = 50, retryEveryMs = 2 * 60_000): Promise<number> {
    const due = await this.claim(
      `status = 'WAIT_BUYER_PAY' and expires_at <= now() and (checked_at is null or checked_at <= $1)`,
      'checked_at asc nulls first, expires_at asc',
      retryEveryMs,
      limit,
    );
    for (const order of due) await this.close(order, EventSource.JOB, false);
    return due.length;
  }

  /**
   * Job: orders closed here while Alipay had no trade yet are closed at Alipay again, until their pay links have
   * expired there. A trade found paid meanwhile becomes a payment exception (and is refunded when so configured).
   */
  async repeatCloses(limit = 50, retryEveryMs = 30_000): Promise<number> {
    const due = await this.claim(
      `alipay_close_until is not null and status = 'TRADE_CLOSED' and (checked_at is null or checked_at <= $1)`,
      'checked_at asc nulls first',
      retryEveryMs,
      limit,
    );
    for (const order of due) {
      let settled = false;
      try {
        await this.alipay.close(order.orderNo);
        settled = true; // Alipay had a trade (the buyer opened the link) and has now closed it
      } catch (err) {
        const sub = err instanceof AlipayError ? err.subCode : null;
        if (sub === 'ACQ.TRADE_HAS_CLOSE') settled = true;
        else if (sub === 'ACQ.TRADE_NOT_EXIST') settled = order.alipayCloseUntil !== null && order.alipayCloseUntil.getTime() <= Date.now();
        else if (sub === 'ACQ.TRADE_HAS_SUCCESS' || sub === 'ACQ.TRADE_STATUS_ERROR') {
          const answer = await this.alipay.query(order.orderNo).catch(() => null);
          if (answer) {
            await this.apply(order.id, answer, EventSource.JOB);
            settled = true;
          }
        } else this.logger.warn('could not repeat a close at Alipay; will retry', { orderNo: order.orderNo, error: err });
      }
      if (settled) await this.db.query('update orders set alipay_close_until = null where id = $1', [order.id]);
    }
    return due.length;
  }

  /**
   * Job: asks Alipay about unpaid orders a few minutes old that nobody asked about lately, so a notify that never
   * came (dropped, or refused by a firewall) is caught before the order expires.
   */
  async reconcilePending(limit = 20, olderThanMs = 2 * 60_000, everyMs = 5 * 60_000): Promise<number> {
    const due = await this.claim(
      `status = 'WAIT_BUYER_PAY' and created_at <= now() - make_interval(secs => ${Math.round(olderThanMs / 1000)}) and expires_at > now()
       and (checked_at is null or checked_at <= $1)`,
      'checked_at asc nulls first, created_at asc',
      everyMs,
      limit,
    );
    for (const order of due) await this.sync(order, EventSource.JOB, false);
    return due.length;
  }

  /**
   * Picks due orders and stamps them checked in one statement, so the next run picks others first. (The jobs run
   * once at a time across instances; the changes themselves happen under lockOrder, so a repeat is harmless.)
   */
  private async claim(condition: string, orderBy: string, retryEveryMs: number, limit: number): Promise<OrderRecord[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `update orders set checked_at = now() where id in (
         select id from orders where ${condition} order by ${orderBy} limit $2)
       returning id`,
      [new Date(Date.now() - retryEveryMs), limit],
    );
    const orders: OrderRecord[] = [];
    for (const { id } of rows) {
      const order = await this.orders.byId(id);
      if (order) orders.push(order);
    }
    return orders;
  }
}
