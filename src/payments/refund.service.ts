import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { AlipayProvider } from '../alipay/alipay.provider';
import type { ServiceContext } from '../common/context';
import { AppError, badInput, forbidden } from '../common/errors';
import type { Logger } from '../common/logger';
import { Money } from '../common/money';
import { connection, withTotalCount } from '../common/page';
import { IDEMPOTENCY_KEY, textProblem } from '../common/text';
import { inTransaction, prepared, type SqlExecutor } from '../db/sql';
import { lockOrder, type OrderRecord } from '../orders/order.row';
import type { OrderService } from '../orders/order.service';
import { transition } from '../orders/order.state';
import { EventSource, OrderStatus } from '../orders/order.types';
import { alipayFailure, isFinalRefundRefusal } from './alipay-failure';
import { RefundStatus } from './refund.entity';
import { REFUND_COLUMNS, refundsSql, toRefundRecord, type RefundFilterInput, type RefundRecord, type RefundRowText } from './refund.row';

export interface RefundRequest {
  orderId: string;
  amount: Money;
  reason?: string | null;
  idempotencyKey?: string | null;
}

const INSERT_REFUND_SQL = `
  insert into refunds (id, order_id, out_request_no, amount, reason, status, requested_by, idempotency_key, created_at, updated_at)
  values ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, $8)
  returning ${REFUND_COLUMNS}`;

/**
 * Refunds, partial and full, with Alipay's out_request_no as the retry handle. The amount is reserved under the
 * order's row lock before Alipay is called, so concurrent refunds can never add up past what was paid; while one
 * refund's outcome is unknown (PENDING) no other refund of that order starts, so a retry can never pay twice. A
 * pending refund is settled by a retry with its idempotencyKey, syncOrder, the jobs or Alipay's refund notify,
 * always with its own out_request_no. A full refund closes the order through the transition function.
 */
export class RefundService {
  private readonly db: SqlExecutor;

  constructor(
    private readonly pool: Pool,
    private readonly alipay: AlipayProvider,
    private readonly orders: OrderService,
    private readonly logger: Logger,
  ) {
    this.db = prepared(pool);
  }

  async refundOrder(ctx: ServiceContext, request: RefundRequest): Promise<RefundRecord> {
    const reason = request.reason ?? null;
    if (reason !== null) {
      const problem = textProblem(reason, 1, 256);
      if (problem) throw badInput(`reason ${problem}`, 'reason');
    }
    const key = request.idempotencyKey ?? null;
    if (key !== null && !IDEMPOTENCY_KEY.test(key)) throw badInput('idempotencyKey must be 1–64 letters, digits or _ - : .', 'idempotencyKey');
    const order = await this.orders.findVisible(ctx, request.orderId);
    const refund = await this.reserve(ctx, order.id, request.amount, reason, key);
    if (refund.status !== RefundStatus.PENDING) return refund;
    return this.execute(refund.id, true);
  }

  /** Step 1, under the order's row lock: the refund row that reserves the amount (or the one this key made). */
  private reserve(ctx: ServiceContext, orderId: string, amount: Money, reason: string | null, key: string | null): Promise<RefundRecord> {
    return inTransaction(this.pool, async (tx) => {
      const order = await lockOrder(tx, { id: orderId });
      if (!order) throw new AppError('NOT_FOUND', 'Order not found');
      const { rows } = await tx.query<RefundRowText>(
        `select ${REFUND_COLUMNS} from refunds where order_id = $1 and status in ('PENDING', 'SUCCEEDED') or (order_id = $1 and idempotency_key = $2)`,
        [order.id, key],
      );
      const refunds = rows.map(toRefundRecord);
      const earlier = key ? refunds.find((r) => r.idempotencyKey === key) : undefined;
      if (earlier) {
        if (!earlier.amount.equals(amount)) throw badInput('idempotencyKey was already used for a refund of another amount', 'idempotencyKey');
        return earlier;
      }
      const pending = refunds.find((r) => r.status === RefundStatus.PENDING);
      if (pending) {
        throw new AppError(
          'REFUND_PENDING',
          `Refund ${pending.id} (${pending.amount.toString()}) of this order is still pending at Alipay; no new refund starts until it is settled. ` +
            'Repeat that refund with its idempotencyKey, or call syncOrder to settle it.',
          { refundId: pending.id, amount: pending.amount.toString() },
        );
      }
      if (order.status !== OrderStatus.TRADE_SUCCESS) {
        throw new AppError('ORDER_NOT_REFUNDABLE', `Order is ${order.status}; only TRADE_SUCCESS orders can be refunded`, { status: order.status });
      }
      const succeeded = refunds.filter((r) => r.status === RefundStatus.SUCCEEDED).reduce((a, r) => a.plus(r.amount), Money.zero());
      // What Alipay reported refunded counts too, when it is more than our succeeded refunds add up to.
      const reserved = succeeded.compare(order.refundedAmount) >= 0 ? succeeded : order.refundedAmount;
      if (reserved.plus(amount).compare(order.amount) > 0) {
        const refundable = order.amount.compare(reserved) > 0 ? order.amount.minus(reserved) : Money.zero();
        throw new AppError('REFUND_AMOUNT_EXCEEDED', `At most ${refundable.toString()} can still be refunded`, { refundable: refundable.toString() });
      }
      const { rows: inserted } = await tx.query<RefundRowText>(INSERT_REFUND_SQL, [
        randomUUID(),
        order.id,
        `${order.orderNo}R${randomBytes(5).toString('hex')}`,
        amount.toString(),
        reason,
        ctx.user.id,
        key,
        new Date(),
      ]);
      return toRefundRecord(inserted[0]);
    });
  }

  /** One refund by id, on the pool or inside a transaction. */
  private async refundById(id: string, db: SqlExecutor = this.db): Promise<RefundRecord> {
    const { rows } = await db.query<RefundRowText>(`select ${REFUND_COLUMNS} from refunds where id = $1`, [id]);
    if (!rows[0]) throw new Error(`refund ${id} vanished`);
    return toRefundRecord(rows[0]);
  }

  /**
   * Step 2: asks Alipay (again, with the same out_request_no) and records what it says. `strict` turns an
   * unreachable Alipay into ALIPAY_UNAVAILABLE; the refund then stays PENDING and reserved.
   */
  private async execute(refundId: string, strict: boolean): Promise<RefundRecord> {
    const refund = await this.refundById(refundId);
    const order = await this.orders.byId(refund.orderId);
    if (!order) throw new Error(`the order of refund ${refundId} vanished`);
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
      if (isFinalRefundRefusal(err)) return this.settle(refund.id, RefundStatus.FAILED, `${err.subCode}: ${err.subMsg ?? err.msg}`);
      this.logger.warn('refund outcome unknown; it stays pending', { outRequestNo: refund.outRequestNo, error: err });
      if (!strict) return refund;
      const failure = alipayFailure(err, 'refund');
      throw new AppError(
        'ALIPAY_UNAVAILABLE',
        `${failure.message}. Refund ${refund.id} is PENDING: it may still go through, and its amount stays reserved. ` +
          'Do not start another refund for this order (it would be refused with REFUND_PENDING): repeat this one with the same ' +
          'idempotencyKey, or call syncOrder later; the jobs also retry it with the same out_request_no, so it is paid at most once.',
        { ...failure.details, refundId: refund.id, refundStatus: RefundStatus.PENDING },
      );
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
  private async settle(refundId: string, status: RefundStatus.SUCCEEDED | RefundStatus.FAILED, failureReason: string | null): Promise<RefundRecord> {
    const { orderId } = await this.refundById(refundId);
    return inTransaction(this.pool, async (tx) => {
      const order = await lockOrder(tx, { id: orderId });
      if (!order) throw new Error(`the order of refund ${refundId} vanished`);
      const { rows } = await tx.query<RefundRowText>(
        `update refunds set status = $2, failure_reason = $3, updated_at = now() where id = $1 and status = 'PENDING' returning ${REFUND_COLUMNS}`,
        [refundId, status, failureReason],
      );
      if (!rows[0]) return this.refundById(refundId, tx); // settled meanwhile (a notify, another instance)
      if (status === RefundStatus.FAILED) {
        tx.emit({ type: 'refund.failed', orderId: order.id, orderNo: order.orderNo, refundId, outRequestNo: rows[0].out_request_no, amount: rows[0].amount, reason: failureReason });
      }
      if (status === RefundStatus.SUCCEEDED) {
        await this.applyRefunded(tx, order, Money.zero(), EventSource.ADMIN, `refund ${rows[0].out_request_no}`, rows[0].out_request_no);
      }
      return toRefundRecord(rows[0]);
    });
  }

  /**
   * Brings the order's refundedAmount up to the most that is known to be refunded: Alipay's cumulative refund_fee
   * (from a notify), or the sum of our succeeded refunds, whichever is more, never lowering it. When that is the
   * whole amount of a paid order, the order closes through the transition function. Call it under the order's
   * row lock (`lockOrder`), with the executor of that transaction.
   */
  async applyRefunded(
    tx: SqlExecutor,
    order: OrderRecord,
    reported: Money,
    source: EventSource,
    note: string,
    /** The refund that brought this (its out_request_no), when known: the webhook names it. */
    outRequestNo?: string,
  ): Promise<'UNCHANGED' | 'RECORDED' | 'CLOSED'> {
    const { rows } = await tx.query<{ total: string | null }>(
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
    tx.emit({
      type: 'order.refunded',
      orderId: order.id,
      orderNo: order.orderNo,
      amount: order.amount.toString(),
      refundedAmount: refunded.toString(),
      refundedNow: refunded.minus(order.refundedAmount).toString(),
      source,
      outRequestNo: outRequestNo ?? null,
    });
    if (refunded.equals(order.amount) && order.status === OrderStatus.TRADE_SUCCESS) {
      const closed = await transition(tx, order, OrderStatus.TRADE_CLOSED, { source, note, refundedAmount: refunded });
      if (closed.outcome === 'APPLIED') return 'CLOSED';
    }
    await tx.query('update orders set refunded_amount = $2, updated_at = $3 where id = $1', [order.id, refunded.toString(), new Date()]);
    return 'RECORDED';
  }

  /**
   * Alipay's refund notify (out_biz_no = out_request_no) confirms a refund. A refund we had marked failed but
   * Alipay made is revived (returns true): its amount was free for another refund, so a person must look.
   */
  async confirmFromNotify(tx: SqlExecutor, orderId: string, outRequestNo: string | undefined): Promise<boolean> {
    if (!outRequestNo) return false;
    const { rows } = await tx.query<{ was: string }>(
      `with old as (select id, status from refunds where order_id = $1 and out_request_no = $2 and status <> 'SUCCEEDED' for update)
       update refunds r set status = 'SUCCEEDED', updated_at = now() from old where r.id = old.id returning old.status as was`,
      [orderId, outRequestNo],
    );
    return rows[0]?.was === RefundStatus.FAILED;
  }

  /** Asks Alipay about this order's pending refunds (syncOrder). */
  async settlePending(orderId: string): Promise<void> {
    const { rows } = await this.db.query<{ id: string }>(`select id from refunds where order_id = $1 and status = 'PENDING'`, [orderId]);
    for (const { id } of rows) await this.execute(id, false);
  }

  /** Job: retries refunds left pending (Alipay was unreachable), with their own out_request_no. */
  async retryPending(limit = 20, olderThanMs = 60_000): Promise<number> {
    const { rows } = await this.db.query<{ id: string; out_request_no: string; created_at: Date }>(
      `update refunds set updated_at = now() where id in (
         select id from refunds where status = 'PENDING' and updated_at <= $1 order by updated_at limit $2 for update skip locked)
       returning id, out_request_no, created_at`,
      [new Date(Date.now() - olderThanMs), limit],
    );
    for (const refund of rows) {
      if (Date.now() - refund.created_at.getTime() > 24 * 3600_000) {
        this.logger.error('REFUND NEEDS ATTENTION: pending for more than a day', { outRequestNo: refund.out_request_no });
      }
      await this.execute(refund.id, false);
    }
    return rows.length;
  }

  /** An order's refunds, oldest first. */
  async refundsOf(orderId: string): Promise<RefundRecord[]> {
    return (await this.refundsOfMany([orderId]))[0];
  }

  /** The refunds of several orders in one statement, in the order of `orderIds` (for per-request batching). */
  async refundsOfMany(orderIds: readonly string[]): Promise<RefundRecord[][]> {
    const { rows } = await this.db.query<RefundRowText>(
      `select ${REFUND_COLUMNS} from refunds where order_id = any($1::uuid[]) order by created_at, id`,
      [[...orderIds]],
    );
    const records = rows.map(toRefundRecord);
    return orderIds.map((id) => records.filter((r) => r.orderId === id));
  }

  /**
   * Every refund, newest first, `first` (1–100, default 20) at a time after an opaque cursor, by status and order
   * number (admin only; GraphQL's permissions say so too). `totalCount` is counted only when a client asks for it.
   */
  async list(ctx: ServiceContext, filter: RefundFilterInput, first: number | null | undefined, after: string | null | undefined) {
    if (!ctx.user.isAdmin) throw forbidden('Admins only');
    const sql = refundsSql(filter, first, after);
    const { rows } = await this.db.query<RefundRowText>(sql.page.text, sql.page.params);
    return withTotalCount(connection(rows.map(toRefundRecord), sql.first), async () => {
      const { rows: counted } = await this.db.query<{ n: number }>(sql.count.text, sql.count.params);
      return counted[0].n;
    });
  }
}
