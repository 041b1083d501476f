import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';

const PROJECT = path.resolve(__dirname, '../..');
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const OTHER_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

interface Listener {
  child: ChildProcess;
  port: number;
  url: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first line of stdout (or stderr) matching, once it is printed. */
  line(match: string | RegExp, stream?: 'stdout' | 'stderr'): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
/** Listeners a whole describe shares (started in beforeAll): afterEach leaves them, afterAll kills them. */
const shared = new Set<ChildProcess>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** `npm run webhooks:listen -- …flags` as its own process, with only the environment given (plus PATH and HOME). */
function spawnListener(port: number, flags: string[], env: Record<string, string> = {}): Listener {
  const child = spawn(process.execPath, ['-r', './scripts/swc-register.js', 'src/dev/webhooks-listen.cli.ts', ...flags], {
    cwd: PROJECT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LANG: 'C.UTF-8', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const text = { stdout: '', stderr: '' };
  const waiters: Array<() => void> = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]!.setEncoding('utf8');
    child[stream]!.on('data', (d: string) => {
      text[stream] += d;
      for (const w of [...waiters]) w();
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
      for (const w of [...waiters]) w();
    }),
  );
  const line = (match: string | RegExp, stream: 'stdout' | 'stderr' = 'stdout'): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = text[stream].split('\n').find((l) => (typeof match === 'string' ? l.includes(match) : match.test(l)));
        const complete = found !== undefined && text[stream].includes(`${found}\n`);
        if (complete) {
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          reject(new Error(`listener exited without printing ${match}; stdout:\n${text.stdout}\nstderr:\n${text.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`no line ${match} within 15 s; stdout:\n${text.stdout}\nstderr:\n${text.stderr}`));
      }, 15_000);
      waiters.push(check);
      check();
    });
  return { child, port, url: `http://127.0.0.1:${port}/webhooks`, stdout: () => text.stdout, stderr: () => text.stderr, line, exited };
}

async function startListener(flags: string[] = ['--secret', SECRET], env: Record<string, string> = {}): Promise<Listener> {
  const port = await freePort();
  const listener = spawnListener(port, ['--port', String(port), ...flags], env);
  await listener.line(`listening on http://127.0.0.1:${port}/`, flags.includes('--json') ? 'stderr' : 'stdout');
  return listener;
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

afterEach(() => {
  for (const child of children) if (!shared.has(child)) kill(child);
});
afterAll(() => {
  for (const child of children) kill(child);
});

let seq = 0;
const newId = (): string => `msg_${Date.now()}_${++seq}`;

function order(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '0193b6c2-6d8e-7c1a-9b2f-4a5e6d7c8b9a',
    orderNo: '2026112500000000000001',
    userId: 'buyer-1',
    amount: '0.01',
    status: 'PAID',
    tradeNo: '2026112522001400000000000001',
    paidAt: '2026-11-25T12:00:01.000Z',
    refundedAmount: '0.00',
    ...overrides,
  };
}

const event = (type: string, data: Record<string, unknown> = { order: order() }): string =>
  JSON.stringify({ type, timestamp: new Date().toISOString(), data });

interface Delivery {
  id?: string;
  secret?: string;
  at?: Date;
  /** Sent instead of the body that was signed. */
  sendBody?: string;
  headers?: Record<string, string>;
  omit?: Array<'webhook-id' | 'webhook-timestamp' | 'webhook-signature'>;
  signature?: (signed: string) => string;
}

/** POSTs `body` signed by standardwebhooks' own sign(), as the service signs its deliveries. */
async function deliver(url: string, body: string, options: Delivery = {}): Promise<{ status: number; text: string; signature: string }> {
  const id = options.id ?? newId();
  const at = options.at ?? new Date();
  const signed = new Webhook(options.secret ?? SECRET).sign(id, at, body);
  const signature = options.signature ? options.signature(signed) : signed;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
    ...options.headers,
  };
  for (const name of options.omit ?? []) delete headers[name];
  const response = await fetch(url, { method: 'POST', headers, body: options.sendBody ?? body });
  return { status: response.status, text: await response.text(), signature };
}

describe('npm run webhooks:listen with a secret', () => {
  let listener: Listener;
  beforeAll(async () => {
    listener = await startListener();
    shared.add(listener.child);
  });
  afterAll(() => {
    kill(listener.child);
    shared.delete(listener.child);
  });

  it('prints a verified order.paid with its order number, amount, status, id and attempt, and answers 204', async () => {
    const id = newId();
    const reply = await deliver(listener.url, event('order.paid'), { id });
    expect(reply.status).toBe(204);
    const line = await listener.line(`id ${id} `);
    expect(line).toMatch(/^\d\d:\d\d:\d\d order\.paid +2026112500000000000001  amount 0\.01  status PAID  id msg_\S+  \(attempt 1\) → 204$/);
  });

  it('accepts a delivery whose webhook-signature holds several signatures, one of them right', async () => {
    const id = newId();
    const wrong = new Webhook(OTHER_SECRET).sign(id, new Date(), event('order.paid'));
    const reply = await deliver(listener.url, event('order.paid'), { id, signature: (right) => `${wrong} ${right}` });
    expect(reply.status).toBe(204);
    await listener.line(`id ${id} `);
  });

  it('prints the refund of a refund event and the exception of a payment.exception', async () => {
    const refundId = newId();
    const refund = { id: 'r-1', outRequestNo: 'R2026112500000001', amount: '8.88', status: 'SUCCESS' };
    expect((await deliver(listener.url, event('order.refunded', { order: order({ amount: '10.00', status: 'REFUNDED', refundedAmount: '8.88' }), refund }), { id: refundId })).status).toBe(204);
    expect(await listener.line(`id ${refundId} `)).toContain('order.refunded     2026112500000000000001  amount 10.00  status REFUNDED  refund 8.88 (outRequestNo R2026112500000001, SUCCESS)');

    const failedId = newId();
    const failed = { ...refund, outRequestNo: 'R2026112500000002', amount: '1.00', status: 'FAILED' };
    expect((await deliver(listener.url, event('refund.failed', { order: order(), refund: failed }), { id: failedId })).status).toBe(204);
    expect(await listener.line(`id ${failedId} `)).toContain('refund 1.00 (outRequestNo R2026112500000002, FAILED)');

    const exceptionId = newId();
    const paymentException = { id: 'pe-1', tradeNo: '2026112522001499999999999999', amount: '0.01', kind: 'DUPLICATE_PAYMENT', status: 'OPEN' };
    expect((await deliver(listener.url, event('payment.exception', { order: order(), paymentException }), { id: exceptionId })).status).toBe(204);
    expect(await listener.line(`id ${exceptionId} `)).toContain('exception DUPLICATE_PAYMENT 0.01 trade 2026112522001499999999999999 (OPEN)');
  });

  it('prints an event type it does not know generically, with its body', async () => {
    const id = newId();
    expect((await deliver(listener.url, JSON.stringify({ type: 'order.teleported', data: { where: 'moon' } }), { id })).status).toBe(204);
    const line = await listener.line(`id ${id} `);
    expect(line).toContain('order.teleported');
    expect(line).toContain('"where":"moon"');
  });

  it('answers 400 to a tampered body and prints REJECTED with the webhook-id, but not the signature', async () => {
    const id = newId();
    const body = event('order.paid');
    const reply = await deliver(listener.url, body, { id, sendBody: body.replace('"0.01"', '"100.00"') });
    expect(reply.status).toBe(400);
    const line = await listener.line(`REJECTED ${id} `);
    expect(line).toContain('No matching signature found');
    expect(line).not.toContain(reply.signature.slice(3));
    expect(listener.stdout()).not.toContain(reply.signature.slice(3));
    expect(listener.stdout()).not.toContain(`id ${id} `);
  });

  it('answers 400 to a delivery signed with another secret, never printing either secret', async () => {
    const id = newId();
    const reply = await deliver(listener.url, event('order.paid'), { id, secret: OTHER_SECRET });
    expect(reply.status).toBe(400);
    expect(await listener.line(`REJECTED ${id} `)).toContain('No matching signature found');
    expect(listener.stdout()).not.toContain(reply.signature.slice(3));
    expect(listener.stdout()).not.toContain(OTHER_SECRET.slice(6));
    // The listener's own secret appears once only: in the start hint, never in a delivery's line.
    expect(listener.stdout().split(SECRET).length - 1).toBe(1);
  });

  it('answers 400 to a correctly signed delivery whose timestamp is more than 5 minutes old', async () => {
    const id = newId();
    const reply = await deliver(listener.url, event('order.paid'), { id, at: new Date(Date.now() - 6 * 60_000) });
    expect(reply.status).toBe(400);
    expect(await listener.line(`REJECTED ${id} `)).toContain('Message timestamp too old');
  });

  it('answers 400 to deliveries missing the webhook headers', async () => {
    const none = await deliver(listener.url, event('order.paid'), { omit: ['webhook-id', 'webhook-timestamp', 'webhook-signature'] });
    expect(none.status).toBe(400);
    expect(await listener.line('REJECTED (no webhook-id) Missing required headers')).toBeTruthy();

    const id = newId();
    const unsigned = await deliver(listener.url, event('order.paid'), { id, omit: ['webhook-signature'] });
    expect(unsigned.status).toBe(400);
    expect(await listener.line(`REJECTED ${id} `)).toContain('Missing required headers');
  });

  it('answers 413 to a body over 1 MB and keeps serving', async () => {
    const id = newId();
    const huge = JSON.stringify({ type: 'order.paid', data: { order: order(), pad: 'x'.repeat(1024 * 1024) } });
    const reply = await deliver(listener.url, huge, { id });
    expect(reply.status).toBe(413);
    expect(await listener.line(`REJECTED ${id} `)).toContain('413');
    expect(listener.stdout()).not.toContain('xxxxxxxxxx');

    const next = newId();
    expect((await deliver(listener.url, event('order.paid'), { id: next })).status).toBe(204);
    await listener.line(`id ${next} `);
  });

  it('prints none of the control characters or escape sequences a body carries', async () => {
    const id = newId();
    const hostile = order({
      orderNo: '2026\u001b[2J\u001b]0;owned\u0007\u009b31m\u202eNO',
      status: 'PAID\r\u001b[1A\u001b[2KFAKE LINE\n',
    });
    const reply = await deliver(listener.url, event('order.paid', { order: hostile }), { id });
    expect(reply.status).toBe(204);
    const line = await listener.line(`id ${id} `);
    expect(line).toContain('2026[2J]0;owned31mNO');
    expect(listener.stdout()).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(listener.stdout()).not.toMatch(/^FAKE LINE/m);
  });

  it('answers 404 to other paths and 405 to other methods on its path', async () => {
    expect((await fetch(`http://127.0.0.1:${listener.port}/elsewhere`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(listener.url)).status).toBe(405);
  });
});

describe('npm run webhooks:listen --fail', () => {
  it('answers 500 to the first N deliveries and 204 after, counting the attempts of one webhook-id', async () => {
    const listener = await startListener(['--secret', SECRET, '--fail', '2']);
    const id = newId();
    const body = event('order.paid');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await deliver(listener.url, body, { id })).status);
    expect(statuses).toEqual([500, 500, 204]);
    expect(await listener.line(`(attempt 1) → 500 (--fail, 1 of 2)`)).toContain(`id ${id} `);
    expect(await listener.line(`(attempt 2) → 500 (--fail, 2 of 2)`)).toContain(`id ${id} `);
    const third = await listener.line('(attempt 3)');
    expect(third).toMatch(/→ 204$/);
    expect(third).not.toContain('retry of a delivery already answered 2xx');

    expect((await deliver(listener.url, body, { id })).status).toBe(204);
    expect(await listener.line('(attempt 4)')).toContain('(retry of a delivery already answered 2xx) → 204');
    // Another delivery starts at attempt 1: the count is per webhook-id.
    const other = newId();
    await deliver(listener.url, body, { id: other });
    expect(await listener.line(`id ${other} `)).toContain('(attempt 1) → 204');
  });
});

describe('npm run webhooks:listen without a secret', () => {
  it('generates a whsec_ secret, prints the exact npm start line, and verifies deliveries signed with it', async () => {
    const port = await freePort();
    const listener = spawnListener(port, ['--port', String(port)]);
    const hint = await listener.line(/^WEBHOOK_URL=/);
    const match = new RegExp(`^WEBHOOK_URL=http://127\\.0\\.0\\.1:${port}/webhooks WEBHOOK_SECRET=(whsec_[A-Za-z0-9+/]{43}=) npm start$`).exec(hint);
    expect(match).not.toBeNull();
    const secret = match![1];
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    await listener.line(`listening on http://127.0.0.1:${port}/webhooks`);

    const id = newId();
    expect((await deliver(listener.url, event('order.paid'), { id, secret })).status).toBe(204);
    await listener.line(`id ${id} `);
    expect((await deliver(listener.url, event('order.paid'), { secret: SECRET })).status).toBe(400);
  });

  it('takes the secret from WEBHOOK_SECRET and the port from WEBHOOK_LISTEN_PORT', async () => {
    const port = await freePort();
    const listener = spawnListener(port, [], { WEBHOOK_SECRET: SECRET, WEBHOOK_LISTEN_PORT: String(port) });
    await listener.line(`listening on http://127.0.0.1:${port}/webhooks`);
    expect(await listener.line(/^WEBHOOK_URL=/)).toBe(`WEBHOOK_URL=http://127.0.0.1:${port}/webhooks WEBHOOK_SECRET=${SECRET} npm start`);
    expect((await deliver(listener.url, event('order.paid'))).status).toBe(204);
  });
});

describe('npm run webhooks:listen --json', () => {
  it('prints each verified delivery as one parseable JSON line on stdout, and nothing else there', async () => {
    const listener = await startListener(['--secret', SECRET, '--json', '--path', '/hooks/alipay']);
    const url = `http://127.0.0.1:${listener.port}/hooks/alipay`;
    expect((await deliver(listener.url, event('order.paid'))).status).toBe(404);
    const ids = [newId(), newId()];
    const hostileNo = '2026\u001b[31m\u009b1m';
    expect((await deliver(url, event('order.paid', { order: order({ orderNo: hostileNo }) }), { id: ids[0] })).status).toBe(204);
    expect((await deliver(url, event('order.closed', { order: order({ status: 'CLOSED' }) }), { id: ids[1] })).status).toBe(204);
    expect((await deliver(url, event('order.paid'), { secret: OTHER_SECRET })).status).toBe(400);
    await listener.line(ids[1]);
    await listener.line('REJECTED', 'stderr');

    const lines = listener.stdout().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed[0]).toMatchObject({ webhookId: ids[0], attempt: 1, answered: 204, event: { type: 'order.paid', data: { order: { orderNo: hostileNo, amount: '0.01' } } } });
    expect(parsed[1]).toMatchObject({ webhookId: ids[1], attempt: 1, answered: 204, retryAfter2xx: false, event: { type: 'order.closed', data: { order: { status: 'CLOSED' } } } });
    expect(listener.stdout()).not.toMatch(/[\u001b\u009b]/);
  });
});

describe('npm run webhooks:listen process', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('closes the server and exits 0 on %s, even with a keep-alive connection open', async (signal) => {
    const listener = await startListener();
    expect((await deliver(listener.url, event('order.paid'))).status).toBe(204);
    listener.child.kill(signal);
    expect(await listener.exited).toEqual({ code: 0, signal: null });
    await expect(fetch(listener.url, { method: 'POST', body: '{}' })).rejects.toThrow();
  });

  it('says which port is in use and exits 1 when it cannot listen', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const listener = spawnListener(port, ['--port', String(port), '--secret', SECRET]);
      expect((await listener.exited).code).toBe(1);
      expect(listener.stderr().trim()).toBe(`webhooks:listen: port ${port} is already in use (on 127.0.0.1): stop what holds it or pick another with --port N`);
      expect(listener.stdout()).not.toContain('listening on');
    } finally {
      holder.close();
    }
  });

  it('exits 2 with the usage on a bad flag, without echoing a bad secret', async () => {
    const badSecret = `whsec_${randomBytes(16).toString('base64')}`;
    const listener = spawnListener(0, ['--secret', badSecret]);
    expect((await listener.exited).code).toBe(2);
    expect(listener.stderr()).toContain('--secret must be whsec_ followed by the standard base64 of at least 24 random bytes');
    expect(listener.stderr()).toContain('Usage: npm run webhooks:listen');
    expect(listener.stderr()).not.toContain(badSecret.slice(6));

    const port = spawnListener(0, ['--port', '70000']);
    expect((await port.exited).code).toBe(2);
    expect(port.stderr()).toContain('--port must be a whole number from 1 to 65535');
  });

  it('prints the usage and exits 0 on --help', async () => {
    const listener = spawnListener(0, ['--help']);
    expect((await listener.exited).code).toBe(0);
    expect(listener.stdout()).toContain('Usage: npm run webhooks:listen');
    expect(listener.stdout()).toContain('--fail N');
  });
});
