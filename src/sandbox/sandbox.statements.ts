import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import iconv from 'iconv-lite';
import * as yazl from 'yazl';
import { beijingDayRange, beijingTime } from '../alipay/alipay.time';
import type { Logger } from '../common/logger';
import { SandboxRefund, SandboxTrade, type SandboxApp } from './sandbox.entities';
import { businessError, invalidArgument, missingArgument, SANDBOX_BUYER } from './sandbox.trades';

/** The 25 columns of the detail file, in Alipay's order. */
export const DETAIL_COLUMNS = [
  '支付宝交易号', '商户订单号', '业务类型', '商品名称', '创建时间', '完成时间', '门店编号', '门店名称', '操作员', '终端号', '对方账户',
  '订单金额（元）', '商家实收（元）', '支付宝红包（元）', '集分宝（元）', '支付宝优惠（元）', '商家优惠（元）', '券核销金额（元）', '券名称',
  '商家红包消费金额（元）', '卡消费金额（元）', '退款批次号/请求号', '服务费（元）', '分润（元）', '备注',
] as const;

const SUMMARY_COLUMNS = [
  '门店编号', '门店名称', '交易订单总笔数', '退款订单总笔数', '订单金额（元）', '商家实收（元）', '支付宝优惠（元）', '商家优惠（元）',
  '卡消费金额（元）', '服务费（元）', '分润（元）', '实收净额（元）',
];

const PAGE = 500;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

const BILL_NOT_EXIST = () => businessError('isp.bill_not_exist', '账单不存在');

export interface StatementSettings {
  baseUrl: string;
  sellerId: string;
  /** How long a bill_download_url works (default 30 s, as Alipay's; real time, not scaled). */
  linkTtlMs?: number;
  /** Links kept at once (default 100); the oldest is dropped past it. */
  maxLinks?: number;
}

interface Link {
  appId: string;
  /** `yyyymmdd`. */
  day: string;
  from: Date;
  /** The end of the day, or the moment the link was issued for today: what the bill covers. */
  until: Date;
  /** The end of the Beijing day (for the 终止日期 line). */
  dayEnd: Date;
  expiresAt: number;
}

interface Sums {
  payments: { count: number; fen: bigint };
  refunds: { count: number; fen: bigint };
}

/** `yyyy年MM月dd日 HH:mm:ss` in Beijing time, as Alipay's comment lines write instants. */
function chineseTime(at: Date): string {
  const t = beijingTime(at);
  return `${t.slice(0, 4)}年${t.slice(5, 7)}月${t.slice(8, 10)}日 ${t.slice(11)}`;
}

function yuan(fen: bigint): string {
  const abs = fen < 0n ? -fen : fen;
  const cents = abs % 100n;
  return `${fen < 0n ? '-' : ''}${abs / 100n}.${cents < 10n ? '0' : ''}${cents}`;
}

/** Merchant text in an unquoted CSV field: no commas, line breaks or quotes of its own (their full-width forms). */
function field(text: string | null): string {
  return (text ?? '').replace(/,/g, '，').replace(/[\r\n]+/g, ' ').replace(/"/g, '＂');
}

const gbk = (lines: string[]) => iconv.encode(lines.map((l) => `${l}\r\n`).join(''), 'gbk');

/**
 * The local Alipay's statements (对账单): alipay.data.dataservice.bill.downloadurl.query answers a link that
 * works for 30 seconds, and the link serves the day's zip, built on request from the trades and refunds of that
 * Beijing day (the current day too, unlike Alipay, so a test can reconcile at once). Links are kept in memory only,
 * at most `maxLinks` of them.
 */
export class SandboxStatements {
  /** How long a link works, in real milliseconds (tests may shorten it). */
  linkTtlMs: number;
  private readonly maxLinks: number;
  private readonly links = new Map<string, Link>();

  constructor(
    private readonly orm: MikroORM,
    private readonly settings: StatementSettings,
    private readonly logger: Logger,
  ) {
    this.linkTtlMs = settings.linkTtlMs ?? 30_000;
    this.maxLinks = settings.maxLinks ?? 100;
  }

  /** Alipay's user id in statements: the 2088… partner id with its account suffix `0156`. */
  get userId(): string {
    return `${this.settings.sellerId}0156`;
  }

  /** alipay.data.dataservice.bill.downloadurl.query: `{ bill_download_url }`, or Alipay's errors. */
  async downloadUrl(app: SandboxApp, biz: Record<string, unknown>): Promise<Record<string, string>> {
    const type = biz.bill_type;
    const date = biz.bill_date;
    if (type === undefined || type === null || type === '') throw missingArgument('isv.missing-parameter', '缺少必选参数 bill_type');
    if (date === undefined || date === null || date === '') throw missingArgument('isv.missing-parameter', '缺少必选参数 bill_date');
    if (type !== 'trade') throw invalidArgument('isv.invalid-parameter', '参数无效: bill_type (the local Alipay has trade bills only)');
    const range = typeof date === 'string' ? beijingDayRange(date) : null;
    if (!range) throw invalidArgument('isv.invalid-parameter', '参数无效: bill_date (yyyy-MM-dd; the local Alipay has daily bills only)');
    const { start: from, end: dayEnd } = range;
    const now = new Date();
    if (from > now) throw BILL_NOT_EXIST();
    const until = dayEnd < now ? dayEnd : now;
    const em = this.orm.em.fork();
    const paid = await em.findOne(SandboxTrade, { appId: app.appId, paidAt: { $gte: from, $lt: until } }, { fields: ['id'] });
    const refunded = paid ?? (await em.findOne(SandboxRefund, { trade: { appId: app.appId }, createdAt: { $gte: from, $lt: until } }, { fields: ['id'] }));
    if (!refunded) throw BILL_NOT_EXIST();

    const token = randomBytes(32).toString('base64url');
    this.sweep();
    while (this.links.size >= this.maxLinks) this.links.delete(this.links.keys().next().value as string);
    this.links.set(token, { appId: app.appId, day: (date as string).replace(/-/g, ''), from, until, dayEnd, expiresAt: Date.now() + this.linkTtlMs });
    return { bill_download_url: `${this.settings.baseUrl}/bills/${token}.csv.zip` };
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, link] of this.links) if (link.expiresAt <= now) this.links.delete(token);
  }

  /** The zip a link's last path segment (`<token>.csv.zip`) names, or null (malformed, unknown or expired). */
  open(segment: string): { fileName: string; stream: Readable } | null {
    if (segment.length !== 51 || !segment.endsWith('.csv.zip')) return null;
    const token = segment.slice(0, -'.csv.zip'.length);
    if (!TOKEN.test(token)) return null;
    const link = this.links.get(token);
    if (!link) return null;
    if (link.expiresAt <= Date.now()) {
      this.links.delete(token);
      return null;
    }
    return { fileName: `${this.userId}_${link.day}.csv.zip`, stream: this.zip(link) };
  }

  /** The zip, streamed: the detail file read from the database a page at a time, then the summary. */
  private zip(link: Link): Readable {
    const zip = new yazl.ZipFile();
    const out = new PassThrough();
    const sums: Sums = { payments: { count: 0, fen: 0n }, refunds: { count: 0, fen: 0n } };
    const base = `${this.userId}_${link.day}`;
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      this.logger.error('local Alipay: building a statement failed', { error: err });
      out.destroy(err instanceof Error ? err : new Error(String(err)));
    };
    zip.on('error', fail);
    const mtime = new Date();
    const detail = Readable.from(this.detail(link, sums)).on('error', fail);
    out.on('close', () => detail.destroy());
    zip.addReadStream(detail, `${base}_业务明细.csv`, { mtime });
    // Lazy: read when the detail is done, so it sums what the detail holds.
    zip.addReadStreamLazy(`${base}_业务明细(汇总).csv`, { mtime }, (cb) => cb(null, Readable.from([this.summary(link, sums)])));
    zip.end();
    zip.outputStream.on('error', fail).pipe(out);
    return out;
  }

  private preamble(title: '业务明细' | '业务汇总', link: Link): string[] {
    return [
      `#支付宝${title}查询`,
      `#账号：[${this.userId}]`,
      `#起始日期：[${chineseTime(link.from)}]   终止日期：[${chineseTime(link.dayEnd)}]`,
      `#-----------------------------------------${title}列表----------------------------------------`,
    ];
  }

  private async *detail(link: Link, sums: Sums): AsyncGenerator<Buffer> {
    yield gbk([...this.preamble('业务明细', link), DETAIL_COLUMNS.join(',')]);
    const buyer = `*沙箱买家(${SANDBOX_BUYER.logonId})\t`;
    const row = (t: SandboxTrade, kind: '交易' | '退款', finished: Date, fen: bigint, requestNo: string) => {
      const amount = yuan(fen);
      return [
        `${t.tradeNo}\t`, `${t.outTradeNo}\t`, `${kind}\t`, field(t.subject), beijingTime(t.createdAt), beijingTime(finished), '\t', '\t', '\t', '\t', buyer,
        amount, amount, '0.00', '0.00', '0.00', '0.00', '0.00', '', '0.00\t', '0.00', `${requestNo}\t`, '0.00', '0.00', field(t.body),
      ].join(',');
    };

    let after: { at: Date; id: string } | null = null;
    for (;;) {
      const page: SandboxTrade[] = await this.orm.em.fork().find(
        SandboxTrade,
        {
          appId: link.appId,
          paidAt: { $gte: link.from, $lt: link.until },
          ...(after ? { $or: [{ paidAt: { $gt: after.at } }, { paidAt: after.at, id: { $gt: after.id } }] } : {}),
        },
        { orderBy: { paidAt: 'asc', id: 'asc' }, limit: PAGE },
      );
      if (page.length === 0) break;
      yield gbk(
        page.map((t) => {
          sums.payments.count++;
          sums.payments.fen += t.totalAmount.fen;
          return row(t, '交易', t.paidAt!, t.totalAmount.fen, '');
        }),
      );
      const last = page[page.length - 1];
      after = { at: last.paidAt!, id: last.id };
      if (page.length < PAGE) break;
    }

    let afterRefund: { at: Date; id: string } | null = null;
    for (;;) {
      const page: SandboxRefund[] = await this.orm.em.fork().find(
        SandboxRefund,
        {
          trade: { appId: link.appId },
          createdAt: { $gte: link.from, $lt: link.until },
          ...(afterRefund ? { $or: [{ createdAt: { $gt: afterRefund.at } }, { createdAt: afterRefund.at, id: { $gt: afterRefund.id } }] } : {}),
        },
        { orderBy: { createdAt: 'asc', id: 'asc' }, limit: PAGE, populate: ['trade'] },
      );
      if (page.length === 0) break;
      yield gbk(
        page.map((r) => {
          sums.refunds.count++;
          sums.refunds.fen -= r.amount.fen;
          return row(r.trade, '退款', r.createdAt, -r.amount.fen, r.outRequestNo);
        }),
      );
      const last = page[page.length - 1];
      afterRefund = { at: last.createdAt, id: last.id };
      if (page.length < PAGE) break;
    }

    yield gbk([
      '#-----------------------------------------业务明细列表结束------------------------------------',
      `#交易合计：${sums.payments.count}笔，商家实收共${yuan(sums.payments.fen)}元，商家优惠共0.00元`,
      `#退款合计：${sums.refunds.count}笔，商家实收退款共${yuan(sums.refunds.fen)}元，商家优惠退款共0.00元`,
      `#导出时间：[${chineseTime(new Date())}]`,
    ]);
  }

  /** The per-store summary (one store here: none), in the shape of Alipay's; nothing reads it to reconcile. */
  private summary(link: Link, sums: Sums): Buffer {
    const net = yuan(sums.payments.fen + sums.refunds.fen);
    return gbk([
      ...this.preamble('业务汇总', link),
      SUMMARY_COLUMNS.join(','),
      ['\t', '\t', sums.payments.count, sums.refunds.count, net, net, '0.00', '0.00', '0.00', '0.00', '0.00', net].join(','),
      ['合计', '', sums.payments.count, sums.refunds.count, net, net, '0.00', '0.00', '0.00', '0.00', '0.00', net].join(','),
      '#-----------------------------------------业务汇总列表结束-----------------------------------',
      `#导出时间：[${chineseTime(new Date())}]`,
    ]);
  }
}
