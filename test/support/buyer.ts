/** A buyer's browser, by hand: follows the pay link to the local Alipay's cashier and presses its buttons. */

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens a pay link (GET) or submits a pay form (POST) and lands on the cashier; returns its URL and page. */
export async function openCashier(payUrl: string, form?: Record<string, string>): Promise<{ cashierUrl: string; html: string }> {
  const res = form
    ? await fetch(payUrl, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() })
    : await fetch(payUrl, { redirect: 'manual' });
  if (res.status !== 303) throw new Error(`the gateway did not open the cashier (HTTP ${res.status}): ${(await res.text()).slice(0, 500)}`);
  const cashierUrl = res.headers.get('location')!;
  const page = await fetch(cashierUrl);
  return { cashierUrl, html: await page.text() };
}

/** Presses Pay; returns where the cashier sends the browser (return_url with the signed params) or its page. */
export async function pressPay(cashierUrl: string): Promise<{ status: number; location: string | null; html: string }> {
  const res = await fetch(`${cashierUrl}/pay`, { method: 'POST', redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

/** The hidden inputs and action of an auto-submitting Alipay form. */
export function parseAutoSubmitForm(html: string): { action: string; fields: Record<string, string> } {
  const unescape = (t: string) => t.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const action = unescape(/action="([^"]*)"/.exec(html)![1]);
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) fields[unescape(m[1])] = unescape(m[2]);
  return { action, fields };
}
