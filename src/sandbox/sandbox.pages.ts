import { randomBytes } from 'node:crypto';
import { beijingTime } from '../alipay/alipay.time';
import { escapeHtml as escape } from '../common/html';
import type { SandboxApp, SandboxNotification, SandboxRefund, SandboxScenario, SandboxTrade } from './sandbox.entities';
import { NotificationStatus, SandboxTradeStatus, Scenario } from './sandbox.entities';
import { RETRY_SCHEDULE_MS, type ConsoleTrade, type GatewayError } from './sandbox.trades';


/** Headers for the local Alipay's pages: nothing loads from elsewhere. Forms may lead back to the merchant. */
export const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/**
 * Chinese on every desktop and phone: after the platform's UI font, a CJK font of each system: macOS and iOS
 * (PingFang SC, Hiragino Sans GB), Windows (Microsoft YaHei, under both of its names), Linux and Android (Noto Sans
 * CJK SC, as Debian's fonts-noto-cjk and Google Fonts name it, Source Han Sans SC, WenQuanYi Micro Hei).
 */
export const CJK_FONTS = '"PingFang SC","Hiragino Sans GB","Microsoft YaHei","微软雅黑","Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","WenQuanYi Micro Hei"';
export const FONT_STACK = `system-ui,-apple-system,"Segoe UI",Roboto,${CJK_FONTS},sans-serif`;
const MONO_STACK = `ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono","Noto Sans Mono CJK SC",monospace,${CJK_FONTS}`;

function layout(title: string, body: string, options: { wide?: boolean; style?: string } = {}): string {
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Local Alipay</title>
<style>
body{font-family:${FONT_STACK};margin:0;background:#f5f6f8;color:#222;overflow-wrap:break-word}
button,input,select{font-family:inherit}
header{background:#1677ff;color:#fff;padding:.8rem 1rem;font-weight:600}
main{max-width:26rem;margin:1rem auto;padding:0 1rem}
main.wide{max-width:72rem}
.card{background:#fff;border-radius:12px;padding:1.2rem;box-shadow:0 1px 3px rgba(0,0,0,.08);margin-bottom:1rem;min-width:0}
.amount{font-size:2.2rem;font-weight:600;margin:.4rem 0}
.muted{color:#777;font-size:.9rem}
button{width:100%;padding:.9rem;border:0;border-radius:8px;font-size:1.05rem;margin-top:.6rem;cursor:pointer}
#pay{background:#1677ff;color:#fff}#cancel{background:#eee;color:#333}
code,pre{font-family:${MONO_STACK};white-space:pre-wrap;word-break:break-all;font-size:.8rem}
table{width:100%;border-collapse:collapse;font-size:.85rem}td,th{padding:.3rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
${options.style ?? ''}</style></head>
<body><header>支付宝 · Local Alipay <span class="muted" style="color:#cfe0ff">(sandbox, no real money)</span></header>
<main${options.wide ? ' class="wide"' : ''}>${body}</main></body></html>`;
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


/**
 * The console's own headers: as the other pages', and it cannot be framed (its buttons must not be clickjacked),
 * its forms post only to itself, and a same-origin form post carries its Origin (with no-referrer it would be
 * `null`) for the console's same-origin check.
 */
export const CONSOLE_HEADERS = {
  ...PAGE_HEADERS,
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
};

/** What the console says after one of its buttons did its work (`?done=`); anything else says nothing. */
export const CONSOLE_NOTICES: Readonly<Record<string, string>> = {
  'scenario-set': 'Scenario switched on.',
  'scenario-cleared': 'Scenario cleared: back to normal.',
  closed: 'Trade closed (with a TRADE_CLOSED notify if it has a notify_url).',
  refunded: 'Refund made; the refund notify tells the merchant.',
};

/** What each scenario does, as the README's table says. */
const SCENARIO_HELP: Record<Scenario, string> = {
  [Scenario.NORMAL]: 'as usual (a trade set to NORMAL ignores a scenario for all trades)',
  [Scenario.DROP_NOTIFY]: 'the notify is never sent',
  [Scenario.DUPLICATE_NOTIFY]: 'the same notify twice at once',
  [Scenario.OUT_OF_ORDER_NOTIFY]: 'TRADE_FINISHED arrives before TRADE_SUCCESS',
  [Scenario.DELAY_NOTIFY]: 'the notify comes late (delayMs, default 30000)',
  [Scenario.BUSY]: 'API calls answer 20000 (times, or until cleared)',
  [Scenario.CLOSE_ON_TIMEOUT]: 'the trade times out as soon as the cashier opens',
};

const CONSOLE_CSS = `
h2{font-size:1.05rem;margin:0 0 .6rem}h3{font-size:.95rem;margin:1rem 0 .4rem}
.console button{width:auto;padding:.45rem .8rem;font-size:.9rem;margin:0;border-radius:6px;background:#1677ff;color:#fff}
.console button.secondary{background:#eef0f3;color:#333}.console button.danger{background:#d4380d;color:#fff}
.console form{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.4rem 0}
.console input,.console select{font-size:.9rem;padding:.35rem;border:1px solid #ccc;border-radius:6px;max-width:100%;background:#fff}
.console input[name=amount]{width:7rem}.console input[name=delayMs],.console input[name=times]{width:6rem}
.notice{background:#e6f4ff;border:1px solid #91caff}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(8.5rem,1fr));gap:.3rem 1rem;margin:0;font-size:.85rem}
.facts div{min-width:0}.facts dt{color:#777;font-size:.75rem}.facts dd{margin:0;overflow-wrap:anywhere}
.status{display:inline-block;padding:0 .4rem;border-radius:4px;background:#eee;font-size:.8rem}
.status-TRADE_SUCCESS,.status-DELIVERED{background:#d9f7be}.status-TRADE_CLOSED,.status-FAILED,.status-DROPPED{background:#ffe7e7}
.status-WAIT_BUYER_PAY,.status-PENDING{background:#fff1b8}.status-TRADE_FINISHED{background:#d6e4ff}
.subject{overflow-wrap:anywhere}
@media (max-width:40rem){
  table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
  table.stack thead{display:none}
  table.stack tr{border-bottom:1px solid #eee;padding:.3rem 0}
  table.stack td{display:flex;gap:.6rem;border:0;padding:.1rem 0}
  table.stack td::before{content:attr(data-label);color:#777;flex:0 0 8rem;overflow-wrap:normal}
}`;

export interface ConsoleView {
  baseUrl: string;
  publicKeyPem: string;
  certMode: boolean;
  apps: SandboxApp[];
  scenarios: SandboxScenario[];
  /** Cashier links only for a control-token holder: a cashier token is as good as the pay link. */
  showCashier?: boolean;
  trades: ConsoleTrade[];
  /** One of CONSOLE_NOTICES' keys, after a button did its work. */
  notice?: string;
}

const time = (at: Date | null | undefined) => (at ? beijingTime(new Date(at)) : '—');
const cell = (label: string, html: string, cls = '') => `<td data-label="${escape(label)}"${cls ? ` class="${cls}"` : ''}>${html}</td>`;
const status = (s: string) => `<span class="status status-${escape(s)}">${escape(s)}</span>`;
const hidden = (name: string, value: string) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`;

/** A notify's next attempt: when it is pending, or why there is none. */
function nextAttempt(n: SandboxNotification): string {
  switch (n.status) {
    case NotificationStatus.PENDING:
      return `${n.attempts === 0 ? 'first attempt' : 'retry'} at ${time(n.nextAttemptAt)}`;
    case NotificationStatus.DELIVERED:
      return 'none: answered success';
    case NotificationStatus.FAILED:
      return `none: gave up after ${n.attempts} attempts`;
    case NotificationStatus.DROPPED:
      return 'none: dropped (DROP_NOTIFY)';
  }
}

function notifiesTable(list: SandboxNotification[], hasNotifyUrl: boolean): string {
  if (list.length === 0) return `<p class="muted">${hasNotifyUrl ? 'No notifies yet.' : 'No notify_url: this trade sends no notifies.'}</p>`;
  const rows = list
    .map(
      (n, i) =>
        `<tr class="notify">${cell('#', String(i + 1))}${cell('trade_status', escape(n.fields.trade_status ?? ''))}` +
        `${cell('refund_fee', escape(n.fields.refund_fee ?? '—'))}${cell('state', status(n.status), 'notify-status')}` +
        `${cell('attempts', `${n.attempts} of ${RETRY_SCHEDULE_MS.length + 1}`, 'notify-attempts')}${cell('last attempt', escape(time(n.lastAttemptAt)))}` +
        `${cell('answer', escape(n.lastReply ?? '—'), 'notify-answer')}${cell('next', escape(nextAttempt(n)), 'notify-next')}</tr>`,
    )
    .join('');
  return `<div class="scroll"><table class="stack notifies"><thead><tr><th>#</th><th>trade_status</th><th>refund_fee</th><th>state</th><th>attempts</th><th>last attempt</th><th>answer</th><th>next attempt</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function refundsTable(list: SandboxRefund[]): string {
  if (list.length === 0) return '<p class="muted">No refunds.</p>';
  const rows = list
    .map(
      (r) =>
        `<tr class="refund">${cell('out_request_no', escape(r.outRequestNo), 'refund-no')}${cell('amount', `¥${escape(r.amount.toString())}`, 'refund-amount')}` +
        `${cell('time', escape(time(r.createdAt)))}${cell('reason', escape(r.reason ?? '—'))}</tr>`,
    )
    .join('');
  return `<div class="scroll"><table class="stack refunds"><thead><tr><th>out_request_no</th><th>amount</th><th>time</th><th>reason</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

export const tradeAnchor = (t: Pick<SandboxTrade, 'appId' | 'outTradeNo'>) => `trade-${t.appId}-${t.outTradeNo}`;

function tradeCard(entry: ConsoleTrade, view: ConsoleView, action: (name: string) => string, scenarios: Map<string, SandboxScenario>): string {
  const t = entry.trade;
  const ids = hidden('appId', t.appId) + hidden('outTradeNo', t.outTradeNo);
  const own = scenarios.get(`${t.appId}:${t.outTradeNo}`);
  const options = Object.values(Scenario)
    .map((s) => `<option value="${s}"${own?.scenario === s ? ' selected' : ''}>${s}</option>`)
    .join('');
  const remaining = t.totalAmount.minus(t.refundedAmount);
  const actions = [
    `<form method="post" action="${action('scenario')}">${ids}<select name="scenario" aria-label="scenario for this trade">${options}</select>` +
      `<button type="submit" class="scenario-switch">Switch this trade</button></form>`,
    own ? `<form method="post" action="${action('scenario/clear')}">${ids}<button type="submit" class="secondary scenario-clear">Clear its scenario (${escape(own.scenario)})</button></form>` : '',
    t.status === SandboxTradeStatus.WAIT_BUYER_PAY ? `<form method="post" action="${action('close')}">${ids}<button type="submit" class="danger close-button">Close the trade</button></form>` : '',
    t.status === SandboxTradeStatus.TRADE_SUCCESS && !remaining.isZero()
      ? `<form method="post" action="${action('refund')}">${ids}${hidden('outRequestNo', `console-${randomBytes(6).toString('hex')}`)}` +
        `<label>Refund ¥ <input name="amount" value="${escape(remaining.toString())}" inputmode="decimal" pattern="[0-9]{1,9}(\\.[0-9]{1,2})?" required></label>` +
        `<button type="submit" class="danger refund-button">Refund</button></form>`
      : '',
  ].join('');
  const cashier =
    view.showCashier && t.status === SandboxTradeStatus.WAIT_BUYER_PAY
      ? `<div><dt>cashier</dt><dd><a href="${escape(`${view.baseUrl}/cashier/${t.cashierToken}`)}">open the cashier</a></dd></div>`
      : '';
  const fact = (name: string, html: string) => `<div><dt>${name}</dt><dd>${html}</dd></div>`;
  return `<section class="card trade" id="${escape(tradeAnchor(t))}">
<h2 class="subject">${escape(t.subject)}</h2>
<dl class="facts">${fact('out_trade_no', escape(t.outTradeNo))}${fact('trade_no', escape(t.tradeNo))}${fact('app', escape(t.appId))}` +
    `${fact('status', status(t.status))}${fact('amount', `¥${escape(t.totalAmount.toString())}`)}${fact('refunded', `¥${escape(t.refundedAmount.toString())}`)}` +
    `${fact('method', escape(t.method))}${fact('scenario', own ? escape(own.scenario) : scenarios.has('global') ? `${escape(scenarios.get('global')!.scenario)} (all trades)` : 'NORMAL')}` +
    `${fact('opened', escape(time(t.createdAt)))}${t.paidAt ? fact('paid', escape(time(t.paidAt))) : ''}${t.closedAt ? fact('closed', escape(time(t.closedAt))) : ''}${cashier}</dl>
<h3>Notifies</h3>${notifiesTable(entry.notifications, t.notifyUrl !== null)}
<h3>Refunds</h3>${refundsTable(entry.refunds)}
<div class="actions">${actions}</div></section>`;
}

/**
 * The local Alipay's console: how to point an app at it, its apps, the scenario switches, and the latest trades,
 * each with its notifies (attempts, answers, next attempt) and refunds, and buttons to close or refund it. The
 * buttons are plain forms (the CSP allows no script) posting to the console's own path.
 */
export function consolePage(view: ConsoleView): string {
  const path = new URL(view.baseUrl).pathname.replace(/\/+$/, '');
  const action = (name: string) => escape(`${path}/console/${name}`);
  const scenarios = new Map(view.scenarios.map((s) => [s.scope, s]));
  const notice = view.notice && Object.hasOwn(CONSOLE_NOTICES, view.notice) ? `<div class="card notice" id="notice" role="status">${escape(CONSOLE_NOTICES[view.notice])}</div>` : '';
  const switches = Object.values(Scenario)
    .filter((s) => s !== Scenario.NORMAL)
    .map((s) => `<button type="submit" name="scenario" value="${s}" id="global-${s}" title="${escape(SCENARIO_HELP[s])}">${s}</button>`)
    .join('');
  const current = view.scenarios.map((s) => `<li><code>${escape(s.scope)}</code> ${status(s.scenario)}${s.delayMs !== null ? ` delayMs ${s.delayMs}` : ''}${s.remaining !== null ? ` ${s.remaining} more` : ''}</li>`).join('');
  const overview = view.trades
    .map(({ trade: t, notifications, refunds }) => {
      const delivered = notifications.filter((n) => n.status === NotificationStatus.DELIVERED).length;
      return `<tr>${cell('out_trade_no', `<a href="#${escape(tradeAnchor(t))}">${escape(t.outTradeNo)}</a>`)}${cell('subject', escape(t.subject), 'subject')}` +
        `${cell('amount', `¥${escape(t.totalAmount.toString())}`)}${cell('status', status(t.status))}` +
        `${cell('notifies', `${delivered} of ${notifications.length} delivered`)}${cell('refunds', refunds.length ? `${refunds.length}: ¥${escape(t.refundedAmount.toString())}` : '—')}</tr>`;
    })
    .join('');
  return layout(
    'Console',
    `<div class="console">${notice}<div class="card"><h1 style="font-size:1.2rem">Local Alipay</h1>
<p>Gateway: <code>${escape(view.baseUrl)}/gateway.do</code></p>
<p>Alipay public key (set it as ALIPAY_PUBLIC_KEY of an app that uses this gateway):</p><pre>${escape(view.publicKeyPem)}</pre>
${view.certMode ? `<p>Certificate mode: <a href="${escape(view.baseUrl)}/certs/alipay.crt">alipay.crt</a> · <a href="${escape(view.baseUrl)}/certs/root.crt">root.crt</a></p>` : ''}
<p>Apps: ${view.apps.map((a) => `<code>${escape(a.appId)}</code>`).join(' ') || 'none yet'}</p></div>
<div class="card" id="scenarios"><h2>Scenarios</h2>
${current ? `<ul class="scenario-list">${current}</ul>` : '<p id="no-scenario">NORMAL: no scenario is switched on.</p>'}
<form method="post" action="${action('scenario')}"><span class="muted">For every trade:</span>${switches}
<label class="muted">delayMs <input name="delayMs" inputmode="numeric" pattern="[0-9]{1,8}" placeholder="30000"></label>
<label class="muted">times <input name="times" inputmode="numeric" pattern="[0-9]{1,5}" placeholder="∞"></label></form>
<form method="post" action="${action('scenario/clear')}"><button type="submit" class="secondary" id="scenario-clear-all">Back to normal: clear every scenario</button></form>
<p class="muted">A trade's own switch is on its card below. Times are Beijing time (UTC+8), as Alipay's.</p></div>
<div class="card" id="trades"><h2>Latest trades</h2>${
      view.trades.length
        ? `<div class="scroll"><table class="stack trade-table"><thead><tr><th>out_trade_no</th><th>subject</th><th>amount</th><th>status</th><th>notifies</th><th>refunds</th></tr></thead><tbody>${overview}</tbody></table></div>`
        : '<p class="muted">No trades yet: open a pay link.</p>'
    }</div>
${view.trades.map((entry) => tradeCard(entry, view, action, scenarios)).join('\n')}</div>`,
    { wide: true, style: CONSOLE_CSS },
  );
}
