import { randomInt } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { encodeForm } from '../alipay/alipay.form';
import { CALLBACK_V1_OMIT, canonicalString, signText, type SignType } from '../alipay/alipay.signer';
import { beijingTime } from '../alipay/alipay.time';

/** The facts of a trade that an Alipay trade_status_sync notify carries. */
export interface NotifyTrade {
  appId: string;
  sellerId: string;
  outTradeNo: string;
  tradeNo: string;
  /** Yuan with two places, as Alipay writes it. */
  totalAmount: string;
  subject?: string;
  tradeStatus: 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_FINISHED' | 'TRADE_CLOSED' | string;
  buyerId?: string;
  createdAt?: Date;
  paidAt?: Date;
  /** The same across resends of one notify. */
  notifyId?: string;
  /** Cumulative refunded amount, on refund notifies. */
  refundFee?: string;
  refundedAt?: Date;
  outBizNo?: string;
}

function digits(n: number): string {
  let out = '';
  while (out.length < n) out += `${randomInt(0, 1e9)}`.padStart(9, '0');
  return out.slice(0, n);
}

/** A fresh Alipay-style trade number: date, channel digits, random digits (28 characters). */
export function newTradeNo(at: Date = new Date()): string {
  return `${beijingTime(at).slice(0, 10).replace(/-/g, '')}22001${digits(15)}`;
}

export function newNotifyId(at: Date = new Date()): string {
  return `${beijingTime(at).replace(/\D/g, '').slice(0, 8)}0022${digits(22)}`;
}

/** The fields of a trade_status_sync notify, unsigned (sign_type included, sign not yet). */
export function notifyFields(trade: NotifyTrade, signType: SignType = 'RSA2', at: Date = new Date()): Record<string, string> {
  const paid = trade.tradeStatus === 'TRADE_SUCCESS' || trade.tradeStatus === 'TRADE_FINISHED' || trade.refundFee !== undefined;
  const fields: Record<string, string | undefined> = {
    notify_type: 'trade_status_sync',
    notify_id: trade.notifyId ?? newNotifyId(at),
    notify_time: beijingTime(at),
    charset: 'utf-8',
    version: '1.0',
    sign_type: signType,
    app_id: trade.appId,
    auth_app_id: trade.appId,
    seller_id: trade.sellerId,
    out_trade_no: trade.outTradeNo,
    trade_no: trade.tradeNo,
    trade_status: trade.tradeStatus,
    total_amount: trade.totalAmount,
    subject: trade.subject,
    buyer_id: trade.buyerId,
    gmt_create: beijingTime(trade.createdAt ?? at),
    gmt_payment: paid ? beijingTime(trade.paidAt ?? at) : undefined,
    receipt_amount: paid ? trade.totalAmount : undefined,
    invoice_amount: paid ? trade.totalAmount : undefined,
    buyer_pay_amount: paid ? trade.totalAmount : undefined,
    point_amount: paid ? '0.00' : undefined,
    fund_bill_list: paid ? JSON.stringify([{ amount: trade.totalAmount, fundChannel: 'ALIPAYACCOUNT' }]) : undefined,
    refund_fee: trade.refundFee,
    gmt_refund: trade.refundedAt ? `${beijingTime(trade.refundedAt)}.000` : undefined,
    out_biz_no: trade.outBizNo,
  };
  const present: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== '') present[k] = v;
  return present;
}

/**
 * Signs callback fields as Alipay signs trade notifies and returns (V1: every field but `sign` and
 * `sign_type`, sorted, joined, signed with Alipay's private key). Returns the fields with `sign`.
 */
export async function signCallback(fields: Record<string, string>, alipayPrivateKey: KeyObject, signType: SignType): Promise<Record<string, string>> {
  const { sign: _drop, ...unsigned } = fields;
  return { ...unsigned, sign: await signText(canonicalString(unsigned, CALLBACK_V1_OMIT), alipayPrivateKey, signType) };
}

/** The local Alipay's async notify for a trade, signed. */
export async function signedNotify(
  trade: NotifyTrade,
  alipayPrivateKey: KeyObject,
  signType: SignType = 'RSA2',
  at: Date = new Date(),
): Promise<Record<string, string>> {
  return signCallback(notifyFields(trade, signType, at), alipayPrivateKey, signType);
}

/** The notify as the form-urlencoded body Alipay POSTs. */
export async function signedNotifyBody(trade: NotifyTrade, alipayPrivateKey: KeyObject, signType: SignType = 'RSA2'): Promise<string> {
  return encodeForm(await signedNotify(trade, alipayPrivateKey, signType));
}

/**
 * The signed query string Alipay appends to return_url when it sends the buyer's browser back
 * (method `<pay method>.return`; no trade_status), signed like a notify.
 */
export async function signedReturnQuery(
  trade: Pick<NotifyTrade, 'appId' | 'sellerId' | 'outTradeNo' | 'tradeNo' | 'totalAmount'> & { method?: string },
  alipayPrivateKey: KeyObject,
  signType: SignType = 'RSA2',
  at: Date = new Date(),
): Promise<string> {
  const fields: Record<string, string> = {
    charset: 'utf-8',
    out_trade_no: trade.outTradeNo,
    method: `${trade.method ?? 'alipay.trade.page.pay'}.return`,
    total_amount: trade.totalAmount,
    trade_no: trade.tradeNo,
    auth_app_id: trade.appId,
    version: '1.0',
    app_id: trade.appId,
    sign_type: signType,
    seller_id: trade.sellerId,
    timestamp: beijingTime(at),
  };
  return encodeForm(await signCallback(fields, alipayPrivateKey, signType));
}
