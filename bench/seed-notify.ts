/**
 * The reference's Alipay notify (as its loadgen.js builds one) and Alipay's canonical string, for
 * bench/peer-seed.ts and its signing worker threads (this module imports nothing else of the project's).
 */
import { createHash } from 'node:crypto';

export const SEED_APP_ID = '2016091800540000'; // the reference's ALI_APPID

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function fmtTime(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1, 2)}-${pad(d.getDate(), 2)} ${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}`;
}

/** The reference's order number for notify order `i` (`SN` + 10 digits). */
export const seedSn = (i: number): string => `SN${pad(i, 10)}`;

/** The 22 fields of the reference's TRADE_SUCCESS notify (`sign` makes 23), for one order; `n` keeps trade_no unique. */
export function seedNotifyParams(orderSn: string, n: number, now: Date): Record<string, string> {
  const amount = '99.50';
  return {
    gmt_create: fmtTime(new Date(now.getTime() - 60_000)),
    charset: 'utf-8',
    gmt_payment: fmtTime(new Date(now.getTime() - 30_000)),
    notify_time: fmtTime(now),
    subject: '测试订单 bench',
    buyer_id: '2088102177846880',
    invoice_amount: amount,
    version: '1.0',
    notify_id: createHash('md5').update(`n${orderSn}`).digest('hex'),
    fund_bill_list: JSON.stringify([{ amount, fundChannel: 'ALIPAYACCOUNT' }]),
    notify_type: 'trade_status_sync',
    out_trade_no: orderSn,
    total_amount: amount,
    trade_status: 'TRADE_SUCCESS',
    trade_no: `20240501220014468805${pad(n, 8)}`,
    auth_app_id: SEED_APP_ID,
    receipt_amount: amount,
    point_amount: '0.00',
    app_id: SEED_APP_ID,
    buyer_pay_amount: amount,
    seller_id: '2088102176240000',
    sign_type: 'RSA2',
  };
}

/** Alipay's canonical string: params sorted by key, the excluded ones left out, `k=v` with raw values. */
export function canonical(params: Record<string, string>, exclude: string[]): string {
  return Object.keys(params)
    .filter((k) => !exclude.includes(k))
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
}
