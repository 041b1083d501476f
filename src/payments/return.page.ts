import { escapeHtml as escape } from '../common/html';
import type { ReturnOutcome } from './callback.service';
import { OrderStatus } from '../orders/order.types';


const HEADLINE: Record<OrderStatus, string> = {
  [OrderStatus.WAIT_BUYER_PAY]: 'Waiting for Alipay to confirm your payment',
  [OrderStatus.TRADE_SUCCESS]: 'Payment received',
  [OrderStatus.TRADE_FINISHED]: 'Payment received',
  [OrderStatus.TRADE_CLOSED]: 'This order is closed',
};

/** The small result page shown after Alipay sends the buyer back, when no FRONTEND_RETURN_URL is set. */
export function renderReturnPage(outcome: ReturnOutcome): string {
  const body = outcome.order
    ? `<h1>${escape(HEADLINE[outcome.order.status])}</h1>
<p>${escape(outcome.order.subject)}</p>
<dl><dt>Order</dt><dd>${escape(outcome.order.orderNo)}</dd>
<dt>Amount</dt><dd>¥${escape(outcome.order.amount.toString())}</dd>
<dt>Status</dt><dd id="status">${escape(outcome.order.status)}</dd></dl>
${outcome.order.status === OrderStatus.WAIT_BUYER_PAY ? '<p>This page shows our own records and looks again every 2 seconds until the notify from Alipay arrives.</p>' : ''}`
    : `<h1>We could not verify this payment return</h1><p>The link was altered or did not come from Alipay. Your order is unchanged.</p>`;
  // While Alipay's notify is on its way, look again in a moment (the page itself changes nothing).
  const refresh = outcome.order?.status === OrderStatus.WAIT_BUYER_PAY ? '<meta http-equiv="refresh" content="2">' : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>Payment result</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{color:#666}dd{margin:0}</style></head>
<body>${body}</body></html>`;
}

/** Headers for our own HTML pages: nothing loads from elsewhere, nothing is sniffed or leaked. */
export const HTML_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};
