import { escapeHtml as escape } from '../common/html';
import type { SandboxApp, SandboxScenario, SandboxTrade } from './sandbox.entities';
import { SandboxTradeStatus } from './sandbox.entities';
import type { GatewayError } from './sandbox.trades';


/** Headers for the local Alipay's pages: nothing loads from elsewhere. Forms may lead back to the merchant. */
export const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Local Alipay</title>
<style>
body{font-family:system-ui,-apple-system,"PingFang SC",sans-serif;margin:0;background:#f5f6f8;color:#222}
header{background:#1677ff;color:#fff;padding:.8rem 1rem;font-weight:600}
main{max-width:26rem;margin:1rem auto;padding:0 1rem}
.card{background:#fff;border-radius:12px;padding:1.2rem;box-shadow:0 1px 3px rgba(0,0,0,.08);margin-bottom:1rem}
.amount{font-size:2.2rem;font-weight:600;margin:.4rem 0}
.muted{color:#777;font-size:.9rem}
button{width:100%;padding:.9rem;border:0;border-radius:8px;font-size:1.05rem;margin-top:.6rem;cursor:pointer}
#pay{background:#1677ff;color:#fff}#cancel{background:#eee;color:#333}
code,pre{white-space:pre-wrap;word-break:break-all;font-size:.8rem}
table{width:100%;border-collapse:collapse;font-size:.85rem}td,th{padding:.3rem;border-bottom:1px solid #eee;text-align:left}
</style></head>
<body><header>支付宝 · Local Alipay <span class="muted" style="color:#cfe0ff">(sandbox, no real money)</span></header>
<main>${body}</main></body></html>`;
}

/** The cashier: what is bought, the amount, Pay and Cancel. */
export function cashierPage(trade: SandboxTrade, app: SandboxApp, baseUrl: string): string {
  const action = `${baseUrl}/cashier/${encodeURIComponent(trade.cashierToken)}`;
  const state =
    trade.status === SandboxTradeStatus.WAIT_BUYER_PAY
      ? `<form method="post" action="${escape(action)}/pay"><button id="pay" type="submit">Pay ¥${escape(trade.totalAmount.toString())}</button></form>
<form method="post" action="${escape(action)}/cancel"><button id="cancel" type="submit">Cancel</button></form>`
      : `<p id="status">${trade.status === SandboxTradeStatus.TRADE_CLOSED ? 'This trade is closed.' : 'This trade is paid.'}</p>`;
  return layout(
    'Cashier',
    `<div class="card"><div class="muted">Merchant app ${escape(app.appId)}</div>
<h1 id="subject" style="font-size:1.1rem">${escape(trade.subject)}</h1>
<div class="amount" id="amount">¥${escape(trade.totalAmount.toString())}</div>
<div class="muted">Order ${escape(trade.outTradeNo)} · trade ${escape(trade.tradeNo)}</div></div>
<div class="card">${state}</div>`,
  );
}

/** A short message page (paid without return_url, cancelled, closed, not found). */
export function messagePage(title: string, message: string, link?: { href: string; label: string }): string {
  const back = link ? `<p><a id="back" href="${escape(link.href)}">${escape(link.label)}</a></p>` : '';
  return layout(title, `<div class="card"><h1 style="font-size:1.2rem">${escape(title)}</h1><p id="message">${escape(message)}</p>${back}</div>`);
}

/** Alipay's error page for a pay request it refuses: the codes, and for a bad signature the string it verified. */
export function errorPage(error: GatewayError): string {
  return layout(
    'Error',
    `<div class="card"><h1 style="font-size:1.2rem">支付请求有误 · The pay request was refused</h1>
<p>错误代码 <code id="code">${escape(error.code)}</code> <code id="sub-code">${escape(error.subCode ?? '')}</code></p>
<p>${escape(error.msg)}</p><pre id="sub-msg">${escape(error.subMsg ?? '')}</pre></div>`,
  );
}

/** The local Alipay's console: how to point an app at it, its apps, scenarios and latest trades. */
export function consolePage(view: {
  baseUrl: string;
  publicKeyPem: string;
  certMode: boolean;
  apps: SandboxApp[];
  scenarios: SandboxScenario[];
  /** Cashier links only for a control-token holder: a cashier token is as good as the pay link. */
  showCashier?: boolean;
  trades: SandboxTrade[];
}): string {
  const rows = view.trades
    .map(
      (t) =>
        `<tr><td>${escape(t.outTradeNo)}</td><td>¥${escape(t.totalAmount.toString())}</td><td>${escape(t.status)}</td>` +
        `<td>${view.showCashier && t.status === SandboxTradeStatus.WAIT_BUYER_PAY ? `<a href="${escape(`${view.baseUrl}/cashier/${t.cashierToken}`)}">cashier</a>` : ''}</td></tr>`,
    )
    .join('');
  return layout(
    'Console',
    `<div class="card"><h1 style="font-size:1.2rem">Local Alipay</h1>
<p>Gateway: <code>${escape(view.baseUrl)}/gateway.do</code></p>
<p>Alipay public key (set it as ALIPAY_PUBLIC_KEY of an app that uses this gateway):</p><pre>${escape(view.publicKeyPem)}</pre>
${view.certMode ? `<p>Certificate mode: <a href="${escape(view.baseUrl)}/certs/alipay.crt">alipay.crt</a> · <a href="${escape(view.baseUrl)}/certs/root.crt">root.crt</a></p>` : ''}
<p>Apps: ${view.apps.map((a) => `<code>${escape(a.appId)}</code>`).join(' ') || 'none yet'}</p>
<p>Scenarios: ${view.scenarios.map((s) => `<code>${escape(s.scope)}=${escape(s.scenario)}</code>`).join(' ') || 'NORMAL'}</p></div>
<div class="card"><table><tr><th>out_trade_no</th><th>amount</th><th>status</th><th></th></tr>${rows}</table></div>`,
  );
}
