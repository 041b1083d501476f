import { randomBytes, randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SignType } from '../alipay/alipay.signer';
import { beijingTime, parseBeijingTime } from '../alipay/alipay.time';
import { Money } from '../common/money';
import { sqlState } from '../db/sql';
import { newNotifyId, newTradeNo, notifyFields, type NotifyTrade } from './sandbox.callbacks';
import {
  NotificationStatus,
  SandboxApp,
  SandboxNotification,
  SandboxRefund,
  SandboxScenario,
  SandboxTrade,
  SandboxTradeStatus,
  Scenario,
} from './sandbox.entities';

/** An answer in Alipay's words: code, msg, sub_code, sub_msg. */
export class GatewayError extends Error {
  override name = 'GatewayError';
  constructor(
    readonly code: string,
    readonly msg: string,
    readonly subCode?: string,
    readonly subMsg?: string,
  ) {
    super(`${code} ${msg}${subCode ? ` ${subCode}` : ''}${subMsg ? `: ${subMsg}` : ''}`);
  }
}

export const businessError = (subCode: string, subMsg: string) => new GatewayError('40004', 'Business Failed', subCode, subMsg);
export const invalidArgument = (subCode: string, subMsg: string) => new GatewayError('40002', 'Invalid Arguments', subCode, subMsg);
export const missingArgument = (subCode: string, subMsg: string) => new GatewayError('40001', 'Missing Required Arguments', subCode, subMsg);
export const busy = () => new GatewayError('20000', 'Service Currently Unavailable', 'isp.unknow-error', '系统繁忙');

const TRADE_NOT_EXIST = () => businessError('ACQ.TRADE_NOT_EXIST', '交易不存在');
const TRADE_HAS_SUCCESS = () => businessError('ACQ.TRADE_HAS_SUCCESS', '交易已被支付');
const TRADE_HAS_CLOSE = () => businessError('ACQ.TRADE_HAS_CLOSE', '交易已经关闭');
const TRADE_HAS_FINISHED = () => businessError('ACQ.TRADE_HAS_FINISHED', '交易已完结');
const INVALID = (what: string) => businessError('ACQ.INVALID_PARAMETER', `参数无效: ${what}`);

/** The sandbox's one buyer. */
export const SANDBOX_BUYER = { id: '2088000000000002', logonId: 'buy***@sandbox.local' };

/** Alipay's resend schedule after a notify that was not answered `success`: 8 attempts over about 25 hours. */
export const RETRY_SCHEDULE_MS = [4, 10, 10, 60, 120, 360, 900].map((minutes) => minutes * 60_000);

export interface SandboxSettings {
  /** Where the local Alipay is reached, e.g. http://127.0.0.1:4000/sandbox/alipay. */
  baseUrl: string;
  sellerId: string;
  /** Multiplies every wait (retry schedule, timeouts); 1 = Alipay's real schedule. */
  timeScale: number;
}

type Biz = Record<string, unknown>;

function text(biz: Biz, name: string): string | undefined {
  const value = biz[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw INVALID(name);
  return value;
}

function amount(biz: Biz, name: string): Money {
  const raw = text(biz, name);
  if (raw === undefined) throw missingArgument('isv.missing-parameter', `缺少必选参数 ${name}`);
  const money = Money.parseDecimal(raw);
  if (!money || money.isZero() || money.fen > Money.MAX_FEN) throw INVALID(name);
  return money;
}

function outTradeNoOf(biz: Biz): string {
  const value = text(biz, 'out_trade_no');
  if (value === undefined) throw missingArgument('isv.missing-parameter', '缺少必选参数 out_trade_no');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw INVALID('out_trade_no');
  return value;
}

/** The trades, refunds, notifies and scenarios of the local Alipay, with Alipay's rules and error codes. */
export class SandboxTrades {
  constructor(
    private readonly orm: MikroORM,
    private readonly settings: SandboxSettings,
  ) {}

  private em(): EntityManager {
    return this.orm.em.fork();
  }

  async app(appId: string): Promise<SandboxApp | null> {
    return this.em().findOne(SandboxApp, { appId });
  }

  async registerApp(appId: string, publicKeyPem: string, signType: SignType, appCertSn: string | null, urlPrefixes: string[] | null = null): Promise<void> {
    await this.em().upsert(SandboxApp, { appId, publicKeyPem, signType, appCertSn, urlPrefixes, createdAt: new Date() });
  }

  async apps(): Promise<SandboxApp[]> {
    return this.em().find(SandboxApp, {}, { orderBy: { appId: 'asc' } });
  }

  // ---- scenarios ------------------------------------------------------------------------------------------------

  static scope(appId: string | null, outTradeNo: string | null): string {
    return appId && outTradeNo ? `${appId}:${outTradeNo}` : 'global';
  }

  async setScenario(scope: string, scenario: Scenario, options: { delayMs?: number | null; times?: number | null } = {}): Promise<void> {
    await this.em().upsert(SandboxScenario, { scope, scenario, delayMs: options.delayMs ?? null, remaining: options.times ?? null, createdAt: new Date() });
  }

  /** Back to normal: one trade's scenario, or (scope 'global') every scenario, for all trades and each one. */
  async clearScenario(scope: string): Promise<void> {
    await this.em().nativeDelete(SandboxScenario, scope === 'global' ? {} : { scope });
  }

  async scenarios(): Promise<SandboxScenario[]> {
    return this.em().find(SandboxScenario, {}, { orderBy: { scope: 'asc' } });
  }

  async scenarioFor(em: EntityManager, appId: string, outTradeNo: string): Promise<SandboxScenario | null> {
    return (
      (await em.findOne(SandboxScenario, { scope: SandboxTrades.scope(appId, outTradeNo) })) ??
      (await em.findOne(SandboxScenario, { scope: 'global' }))
    );
  }

  /** BUSY: whether this call answers 20000 (counting down a limited BUSY scenario). */
  async consumeBusy(appId: string, outTradeNo: string | undefined): Promise<boolean> {
    return this.em().transactional(async (em) => {
      const scopes = outTradeNo ? [SandboxTrades.scope(appId, outTradeNo), 'global'] : ['global'];
      for (const scope of scopes) {
        const s = await em.findOne(SandboxScenario, { scope }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (!s) continue;
        if (s.scenario !== Scenario.BUSY) return false;
        if (s.remaining === null) return true;
        if (s.remaining <= 0) return false;
        s.remaining -= 1;
        return true;
      }
      return false;
    });
  }

  // ---- opening trades (page.pay, wap.pay, app.pay, precreate) -------------------------------------------------

  /**
   * Opens (or reopens) the trade a pay request names. The same out_trade_no may be opened again with the same
   * amount while unpaid; a different amount is a tampered request; a paid or closed trade cannot be paid again.
   */
  async open(app: SandboxApp, method: string, biz: Biz, urls: { notifyUrl?: string; returnUrl?: string }): Promise<SandboxTrade> {
    const outTradeNo = outTradeNoOf(biz);
    const totalAmount = amount(biz, 'total_amount');
    const subject = text(biz, 'subject');
    if (subject === undefined) throw missingArgument('isv.missing-parameter', '缺少必选参数 subject');
    if ([...subject].length > 256) throw INVALID('subject');
    const body = text(biz, 'body') ?? null;
    if (body !== null && [...body].length > 128) throw INVALID('body');
    const expireText = text(biz, 'time_expire');
    const timeExpire = expireText === undefined ? null : parseBeijingTime(expireText);
    if (expireText !== undefined && !timeExpire) throw INVALID('time_expire');
    const quitUrl = text(biz, 'quit_url') ?? null;
    for (const [name, url] of [['notify_url', urls.notifyUrl], ['return_url', urls.returnUrl], ['quit_url', quitUrl]] as const) {
      if (url && (!/^https?:\/\/\S+$/.test(url) || url.length > 2048)) throw invalidArgument('isv.invalid-parameter', `${name} 必须是 http(s) 地址`);
      // The local Alipay calls notify_url itself: only where the app said it lives, never another host.
      if (url && app.urlPrefixes && !app.urlPrefixes.some((prefix) => url.startsWith(prefix))) {
        throw invalidArgument('isv.invalid-parameter', `${name} 不在应用登记的地址范围内 (not under a URL prefix registered for the app)`);
      }
    }

    try {
      return await this.openOnce(app, method, { outTradeNo, totalAmount, subject, body, timeExpire, quitUrl }, urls);
    } catch (err) {
      // Two first opens of one link at once: the loser finds the winner's trade on the second try.
      if (sqlState(err) === '23505') return this.openOnce(app, method, { outTradeNo, totalAmount, subject, body, timeExpire, quitUrl }, urls);
      throw err;
    }
  }

  private async openOnce(
    app: SandboxApp,
    method: string,
    t: { outTradeNo: string; totalAmount: Money; subject: string; body: string | null; timeExpire: Date | null; quitUrl: string | null },
    urls: { notifyUrl?: string; returnUrl?: string },
  ): Promise<SandboxTrade> {
    const { outTradeNo, totalAmount, subject, body, timeExpire, quitUrl } = t;
    const em = this.em();
    const trade = await em.transactional(async (tx) => {
      let existing = await tx.findOne(SandboxTrade, { appId: app.appId, outTradeNo }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (existing) {
        if (!existing.totalAmount.equals(totalAmount) || existing.subject !== subject) {
          throw businessError('ACQ.CONTEXT_INCONSISTENT', '交易信息被篡改');
        }
        this.refuseUnpayable(existing);
        existing.notifyUrl = urls.notifyUrl ?? existing.notifyUrl;
        existing.returnUrl = urls.returnUrl ?? existing.returnUrl;
        existing.method = method;
      } else {
        existing = tx.create(SandboxTrade, {
          id: randomUUID(),
          appId: app.appId,
          outTradeNo,
          tradeNo: newTradeNo(),
          cashierToken: randomBytes(24).toString('base64url'),
          totalAmount,
          subject,
          body,
          method,
          notifyUrl: urls.notifyUrl ?? null,
          returnUrl: urls.returnUrl ?? null,
          quitUrl,
          timeExpire,
        });
      }
      const scenario = await this.scenarioFor(tx, app.appId, outTradeNo);
      if (scenario?.scenario === Scenario.CLOSE_ON_TIMEOUT || (existing.timeExpire && existing.timeExpire <= new Date())) {
        this.closeTrade(tx, existing, app);
      }
      return existing;
    });
    return trade;
  }

  private refuseUnpayable(trade: SandboxTrade): void {
    if (trade.status === SandboxTradeStatus.TRADE_SUCCESS || trade.status === SandboxTradeStatus.TRADE_FINISHED) throw TRADE_HAS_SUCCESS();
    if (trade.status === SandboxTradeStatus.TRADE_CLOSED) throw TRADE_HAS_CLOSE();
  }

  // ---- the cashier ------------------------------------------------------------------------------------------

  async byToken(token: string): Promise<{ trade: SandboxTrade; app: SandboxApp } | null> {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) return null;
    const em = this.em();
    const trade = await em.findOne(SandboxTrade, { cashierToken: token });
    if (!trade) return null;
    const app = await em.findOne(SandboxApp, { appId: trade.appId });
    return app ? { trade, app } : null;
  }

  /**
   * The buyer presses Pay: the trade is paid and its notifies are queued, in one transaction (the outbox), as the
   * scenario says. Paying twice is harmless; an expired trade closes instead.
   */
  async pay(token: string): Promise<{ trade: SandboxTrade; app: SandboxApp; paidNow: boolean }> {
    const found = await this.byToken(token);
    if (!found) throw TRADE_NOT_EXIST();
    const { app } = found;
    return this.em().transactional(async (tx) => {
      const trade = await tx.findOneOrFail(SandboxTrade, { id: found.trade.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (trade.status !== SandboxTradeStatus.WAIT_BUYER_PAY) return { trade, app, paidNow: false };
      if (trade.timeExpire && trade.timeExpire <= new Date()) {
        this.closeTrade(tx, trade, app);
        return { trade, app, paidNow: false };
      }
      const scenario = await this.scenarioFor(tx, app.appId, trade.outTradeNo);
      const now = new Date();
      trade.status = scenario?.scenario === Scenario.OUT_OF_ORDER_NOTIFY ? SandboxTradeStatus.TRADE_FINISHED : SandboxTradeStatus.TRADE_SUCCESS;
      trade.paidAt = now;
      trade.buyerId = SANDBOX_BUYER.id;
      if (scenario?.scenario === Scenario.OUT_OF_ORDER_NOTIFY) {
        // The later event first, the earlier one a second later: the merchant must end at TRADE_FINISHED.
        this.enqueue(tx, trade, app, { tradeStatus: 'TRADE_FINISHED' });
        this.enqueue(tx, trade, app, { tradeStatus: 'TRADE_SUCCESS' }, 1000);
      } else {
        this.notify(tx, trade, app, scenario, { tradeStatus: 'TRADE_SUCCESS' });
      }
      return { trade, app, paidNow: true };
    });
  }

  // ---- API methods ----------------------------------------------------------------------------------------------

  private async find(em: EntityManager, app: SandboxApp, biz: Biz, lock = false): Promise<SandboxTrade> {
    const tradeNo = text(biz, 'trade_no');
    const outTradeNo = tradeNo ? undefined : outTradeNoOf(biz);
    const where = tradeNo ? { appId: app.appId, tradeNo } : { appId: app.appId, outTradeNo };
    const trade = await em.findOne(SandboxTrade, where, lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
    if (!trade) throw TRADE_NOT_EXIST();
    return trade;
  }

  async precreate(app: SandboxApp, biz: Biz, notifyUrl: string | undefined): Promise<Record<string, string>> {
    const trade = await this.open(app, 'alipay.trade.precreate', biz, { notifyUrl });
    return { out_trade_no: trade.outTradeNo, qr_code: `${this.settings.baseUrl}/cashier/${trade.cashierToken}` };
  }

  async query(app: SandboxApp, biz: Biz): Promise<Record<string, string>> {
    const trade = await this.find(this.em(), app, biz);
    const paid = trade.paidAt !== null;
    const answer: Record<string, string> = {
      trade_no: trade.tradeNo,
      out_trade_no: trade.outTradeNo,
      trade_status: trade.status,
      total_amount: trade.totalAmount.toString(),
    };
    if (paid) {
      Object.assign(answer, {
        buyer_logon_id: SANDBOX_BUYER.logonId,
        buyer_user_id: trade.buyerId ?? SANDBOX_BUYER.id,
        buyer_pay_amount: trade.totalAmount.toString(),
        receipt_amount: trade.totalAmount.toString(),
        invoice_amount: trade.totalAmount.toString(),
        point_amount: '0.00',
        send_pay_date: beijingTime(trade.paidAt!),
      });
    }
    return answer;
  }

  async close(app: SandboxApp, biz: Biz): Promise<Record<string, string>> {
    return this.em().transactional(async (tx) => {
      const trade = await this.find(tx, app, biz, true);
      if (trade.status === SandboxTradeStatus.TRADE_SUCCESS || trade.status === SandboxTradeStatus.TRADE_FINISHED) throw TRADE_HAS_SUCCESS();
      if (trade.status === SandboxTradeStatus.WAIT_BUYER_PAY) this.closeTrade(tx, trade, app);
      return { trade_no: trade.tradeNo, out_trade_no: trade.outTradeNo };
    });
  }

  /**
   * Refunds part or all of a paid trade. The same out_request_no again is the same refund (no money moves:
   * fund_change N); with another amount it is refused. A full refund closes the trade; every refund notifies.
   */
  async refund(app: SandboxApp, biz: Biz): Promise<Record<string, string>> {
    const refundAmount = amount(biz, 'refund_amount');
    const reason = text(biz, 'refund_reason') ?? null;
    if (reason !== null && [...reason].length > 256) throw INVALID('refund_reason');
    return this.em().transactional(async (tx) => {
      const trade = await this.find(tx, app, biz, true);
      const outRequestNo = text(biz, 'out_request_no') ?? trade.outTradeNo;
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(outRequestNo)) throw INVALID('out_request_no');
      const previous = await tx.findOne(SandboxRefund, { trade, outRequestNo });
      const answer = (fundChange: 'Y' | 'N', at: Date) => ({
        trade_no: trade.tradeNo,
        out_trade_no: trade.outTradeNo,
        buyer_logon_id: SANDBOX_BUYER.logonId,
        buyer_user_id: trade.buyerId ?? SANDBOX_BUYER.id,
        fund_change: fundChange,
        refund_fee: trade.refundedAmount.toString(),
        gmt_refund_pay: beijingTime(at),
      });
      if (previous) {
        if (!previous.amount.equals(refundAmount)) throw businessError('ACQ.DISCORDANT_REPEAT_REQUEST', '不一致的请求');
        return answer('N', previous.createdAt);
      }
      if (trade.status === SandboxTradeStatus.TRADE_CLOSED) throw TRADE_HAS_CLOSE();
      if (trade.status === SandboxTradeStatus.TRADE_FINISHED) throw TRADE_HAS_FINISHED();
      if (trade.status !== SandboxTradeStatus.TRADE_SUCCESS) throw businessError('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
      const refunded = trade.refundedAmount.plus(refundAmount);
      if (refunded.compare(trade.totalAmount) > 0) throw businessError('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限');
      const now = new Date();
      tx.create(SandboxRefund, { id: randomUUID(), trade, outRequestNo, amount: refundAmount, reason, createdAt: now });
      trade.refundedAmount = refunded;
      const full = refunded.equals(trade.totalAmount);
      if (full) {
        trade.status = SandboxTradeStatus.TRADE_CLOSED;
        trade.closedAt = now;
      }
      this.notify(tx, trade, app, await this.scenarioFor(tx, app.appId, trade.outTradeNo), {
        tradeStatus: full ? 'TRADE_CLOSED' : 'TRADE_SUCCESS',
        refundFee: refunded.toString(),
        refundedAt: now,
        outBizNo: outRequestNo,
      });
      return answer('Y', now);
    });
  }

  async refundQuery(app: SandboxApp, biz: Biz): Promise<Record<string, string>> {
    const em = this.em();
    const trade = await this.find(em, app, biz);
    const outRequestNo = text(biz, 'out_request_no') ?? trade.outTradeNo;
    const refund = await em.findOne(SandboxRefund, { trade, outRequestNo });
    if (!refund) return {}; // as Alipay: success, and no refund fields, when there is no such refund
    return {
      trade_no: trade.tradeNo,
      out_trade_no: trade.outTradeNo,
      out_request_no: outRequestNo,
      refund_amount: refund.amount.toString(),
      total_amount: trade.totalAmount.toString(),
      refund_status: 'REFUND_SUCCESS',
    };
  }

  // ---- closing and notifying ------------------------------------------------------------------------------

  private closeTrade(tx: EntityManager, trade: SandboxTrade, app: SandboxApp): void {
    if (trade.status !== SandboxTradeStatus.WAIT_BUYER_PAY) return;
    trade.status = SandboxTradeStatus.TRADE_CLOSED;
    trade.closedAt = new Date();
    this.enqueue(tx, trade, app, { tradeStatus: 'TRADE_CLOSED' });
  }

  /** Closes unpaid trades whose time_expire has passed (Alipay's timeout close); returns how many. */
  async expireDue(limit = 50): Promise<number> {
    return this.em().transactional(async (tx) => {
      const due = await tx.find(
        SandboxTrade,
        { status: SandboxTradeStatus.WAIT_BUYER_PAY, timeExpire: { $lte: new Date() } },
        { limit, lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE },
      );
      const apps = new Map<string, SandboxApp | null>();
      for (const trade of due) {
        if (!apps.has(trade.appId)) apps.set(trade.appId, await tx.findOne(SandboxApp, { appId: trade.appId }));
        const app = apps.get(trade.appId);
        if (app) this.closeTrade(tx, trade, app);
      }
      return due.length;
    });
  }

  /** Queues a notify as the trade's scenario says: dropped, twice, late, or just once. */
  private notify(
    tx: EntityManager,
    trade: SandboxTrade,
    app: SandboxApp,
    scenario: SandboxScenario | null,
    facts: Pick<NotifyTrade, 'tradeStatus'> & Partial<NotifyTrade>,
  ): void {
    const withId = { notifyId: newNotifyId(), ...facts };
    switch (scenario?.scenario) {
      case Scenario.DROP_NOTIFY:
        this.enqueue(tx, trade, app, withId, 0, NotificationStatus.DROPPED);
        break;
      case Scenario.DUPLICATE_NOTIFY:
        this.enqueue(tx, trade, app, withId);
        this.enqueue(tx, trade, app, withId);
        break;
      case Scenario.DELAY_NOTIFY:
        this.enqueue(tx, trade, app, withId, scenario.delayMs ?? 30_000);
        break;
      default:
        this.enqueue(tx, trade, app, withId);
    }
  }

  /** Queues a notify in the caller's transaction; nothing is queued for a trade without notify_url. */
  private enqueue(
    tx: EntityManager,
    trade: SandboxTrade,
    app: SandboxApp,
    facts: Pick<NotifyTrade, 'tradeStatus'> & Partial<NotifyTrade>,
    dueInMs = 0,
    status: NotificationStatus = NotificationStatus.PENDING,
  ): void {
    if (!trade.notifyUrl) return;
    const now = new Date();
    const fields = notifyFields(
      {
        appId: app.appId,
        sellerId: this.settings.sellerId,
        outTradeNo: trade.outTradeNo,
        tradeNo: trade.tradeNo,
        totalAmount: trade.totalAmount.toString(),
        subject: trade.subject,
        buyerId: trade.buyerId ?? undefined,
        createdAt: trade.createdAt,
        paidAt: trade.paidAt ?? undefined,
        ...facts,
      },
      app.signType as SignType,
      now,
    );
    tx.create(SandboxNotification, { trade, notifyUrl: trade.notifyUrl, fields, status, nextAttemptAt: new Date(now.getTime() + dueInMs) });
  }

  /** Everything the sandbox knows about a trade, for tests, demos and the console page. */
  /** A trade as the control API shows it; its cashier link only to a control-token holder (`withCashier`). */
  async describe(appId: string | null, outTradeNo: string, withCashier = false): Promise<Record<string, unknown> | null> {
    const em = this.em();
    const trade = await em.findOne(SandboxTrade, appId ? { appId, outTradeNo } : { outTradeNo }, { orderBy: { createdAt: 'desc' } });
    if (!trade) return null;
    const notifications = await em.find(SandboxNotification, { trade }, { orderBy: { id: 'asc' } });
    const refunds = await em.find(SandboxRefund, { trade }, { orderBy: { createdAt: 'asc' } });
    return {
      appId: trade.appId,
      outTradeNo: trade.outTradeNo,
      tradeNo: trade.tradeNo,
      status: trade.status,
      totalAmount: trade.totalAmount.toString(),
      refundedAmount: trade.refundedAmount.toString(),
      method: trade.method,
      ...(withCashier ? { cashierUrl: `${this.settings.baseUrl}/cashier/${trade.cashierToken}` } : {}),
      notifications: notifications.map((n) => ({
        tradeStatus: n.fields.trade_status,
        notifyId: n.fields.notify_id,
        status: n.status,
        attempts: n.attempts,
        lastReply: n.lastReply,
        nextAttemptAt: n.nextAttemptAt,
      })),
      refunds: refunds.map((r) => ({ outRequestNo: r.outRequestNo, amount: r.amount.toString() })),
    };
  }

  async recentTrades(limit = 20): Promise<SandboxTrade[]> {
    return this.em().find(SandboxTrade, {}, { orderBy: { createdAt: 'desc' }, limit });
  }

  /** The console's view: the latest trades, newest first, each with its notifies and refunds (three queries). */
  async consoleTrades(limit = 20): Promise<ConsoleTrade[]> {
    const em = this.em();
    const trades = await em.find(SandboxTrade, {}, { orderBy: { createdAt: 'desc' }, limit });
    if (trades.length === 0) return [];
    const ids = trades.map((t) => t.id);
    const notifications = await em.find(SandboxNotification, { trade: { $in: ids } }, { orderBy: { id: 'asc' } });
    const refunds = await em.find(SandboxRefund, { trade: { $in: ids } }, { orderBy: { createdAt: 'asc' } });
    return trades.map((trade) => ({
      trade,
      notifications: notifications.filter((n) => n.trade.id === trade.id),
      refunds: refunds.filter((r) => r.trade.id === trade.id),
    }));
  }

  /** The console's Close button: Alipay closes an unpaid trade (a paid one is refused), with its TRADE_CLOSED notify. */
  async closeFromConsole(appId: string, outTradeNo: string): Promise<void> {
    const app = await this.app(appId);
    if (!app) throw TRADE_NOT_EXIST();
    await this.close(app, { out_trade_no: outTradeNo });
  }

  /**
   * The console's Refund button: a refund made on Alipay's side (as in its merchant portal), by the same rules as
   * alipay.trade.refund; the merchant learns of it from the refund notify. The form's out_request_no makes a
   * resubmitted form the same refund.
   */
  async refundFromConsole(appId: string, outTradeNo: string, refundAmount: string, outRequestNo: string): Promise<void> {
    const app = await this.app(appId);
    if (!app) throw TRADE_NOT_EXIST();
    await this.refund(app, { out_trade_no: outTradeNo, refund_amount: refundAmount, out_request_no: outRequestNo, refund_reason: 'refund from the local Alipay console' });
  }
}

/** A trade as the console shows it. */
export interface ConsoleTrade {
  trade: SandboxTrade;
  notifications: SandboxNotification[];
  refunds: SandboxRefund[];
}
