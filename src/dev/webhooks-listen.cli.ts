import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

export const DEFAULT_PORT = 4100;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PATH = '/webhooks';
/** The largest body read; a longer one is answered 413 and never kept. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** How many webhook-ids the attempt counter remembers (least recently seen forgotten first). */
export const MAX_REMEMBERED_IDS = 10_000;
const MIN_SECRET_BYTES = 24;

export const USAGE = `Usage: npm run webhooks:listen -- [--port N] [--host HOST] [--secret whsec_…] [--path /webhooks] [--fail N] [--json]

Receives the service's merchant webhooks locally, verifies each (Standard Webhooks signature) and prints one line
per event. Start it first, then start the service with the WEBHOOK_URL and WEBHOOK_SECRET it prints.

  --port N           port to listen on, 1–65535 (default: WEBHOOK_LISTEN_PORT, else ${DEFAULT_PORT})
  --host HOST        address or host name to listen on (default ${DEFAULT_HOST})
  --secret whsec_…   the service's WEBHOOK_SECRET (default: WEBHOOK_SECRET, else a fresh one is generated and printed)
  --path PATH        the path deliveries are POSTed to (default ${DEFAULT_PATH}); any other path is answered 404
  --fail N           answer 500 to the first N verified deliveries, to watch the service retry (default 0)
  --json             print each verified delivery as one JSON line on stdout (everything else goes to stderr)
  --help             show this help
`;

export interface ListenArgs {
  port: number;
  host: string;
  /** null: none given, generate one. */
  secret: string | null;
  path: string;
  fail: number;
  json: boolean;
}

export class UsageError extends Error {}

const VALUE_FLAGS = ['--port', '--host', '--secret', '--path', '--fail'] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];
const HOSTNAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function parsePort(value: string, name: string): number {
  if (!/^[1-9][0-9]{0,4}$/.test(value) || Number(value) > 65535) throw new UsageError(`${name} must be a whole number from 1 to 65535`);
  return Number(value);
}

/** Why a secret is unusable, never quoting it. */
export function secretProblem(secret: string): string | null {
  const what = 'must be whsec_ followed by the standard base64 of at least 24 random bytes';
  if (!secret.startsWith('whsec_')) return `${what} (it does not start with whsec_)`;
  const b64 = secret.slice('whsec_'.length);
  if (b64.length > 1000 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return `${what} (the rest is not base64)`;
  const key = Buffer.from(b64, 'base64');
  if (key.toString('base64') !== b64) return `${what} (the rest is not base64)`;
  if (key.length < MIN_SECRET_BYTES) return `${what} (it holds only ${key.length})`;
  return null;
}

function parseHost(value: string): string {
  const host = /^\[.*\]$/.test(value) ? value.slice(1, -1) : value;
  if (net.isIP(host) === 0 && !HOSTNAME.test(host)) throw new UsageError('--host must be an IP address or a host name');
  return host;
}

function parsePath(value: string): string {
  if (!/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]{0,200}$/.test(value)) {
    throw new UsageError('--path must start with / and hold only URL path characters (no spaces, ? or #; up to 200)');
  }
  return value;
}

/**
 * Parses the command line (and WEBHOOK_LISTEN_PORT / WEBHOOK_SECRET from env, which the flags override); every
 * problem is a UsageError with a message that says what is wrong, and never repeats a secret.
 */
export function parseListenArgs(argv: string[], env: Record<string, string | undefined> = {}): ListenArgs {
  const given = new Map<ValueFlag, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name === '--json') {
      if (eq > 0) throw new UsageError('--json takes no value');
      json = true;
    } else if ((VALUE_FLAGS as readonly string[]).includes(name)) {
      const flag = name as ValueFlag;
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`${flag} needs a value`);
      if (given.has(flag)) throw new UsageError(`${flag} given twice`);
      given.set(flag, value);
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option: ${printable(name).slice(0, 40)}`);
    } else {
      throw new UsageError(`unexpected argument: ${printable(arg).slice(0, 40)} (all options start with --)`);
    }
  }

  const portText = given.get('--port');
  const envPort = env.WEBHOOK_LISTEN_PORT || undefined;
  const port = portText !== undefined ? parsePort(portText, '--port') : envPort !== undefined ? parsePort(envPort, 'WEBHOOK_LISTEN_PORT') : DEFAULT_PORT;

  const hostText = given.get('--host');
  const host = hostText !== undefined ? parseHost(hostText) : DEFAULT_HOST;

  const secretText = given.get('--secret');
  const secret = secretText ?? (env.WEBHOOK_SECRET || null);
  if (secret !== null) {
    const problem = secretProblem(secret);
    if (problem) throw new UsageError(`${secretText !== undefined ? '--secret' : 'WEBHOOK_SECRET'} ${problem}`);
  }

  const pathText = given.get('--path');
  const path = pathText !== undefined ? parsePath(pathText) : DEFAULT_PATH;

  const failText = given.get('--fail');
  if (failText !== undefined && !/^(?:0|[1-9][0-9]{0,5})$/.test(failText)) throw new UsageError('--fail must be a whole number from 0 to 999999');
  const fail = failText !== undefined ? Number(failText) : 0;

  return { port, host, secret, path, fail, json };
}

/** Drops control and invisible format characters (ESC, CSI, bidi overrides, line separators, …) and broken surrogates. */
export function printable(text: string): string {
  return text.toWellFormed().replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '');
}

/** JSON on one line, with the characters JSON.stringify leaves raw but a terminal may act on escaped as \uXXXX. */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Counts the deliveries of each webhook-id, remembering at most `capacity` ids (the least recently seen go first). */
export class AttemptLog {
  private readonly seen = new Map<string, { attempts: number; answered2xx: boolean }>();

  constructor(private readonly capacity = MAX_REMEMBERED_IDS) {}

  get size(): number {
    return this.seen.size;
  }

  /** Records one more delivery of `id`; says which attempt it is and whether an earlier one was answered 2xx. */
  record(id: string): { attempt: number; retryAfter2xx: boolean } {
    const key = id.length <= 200 ? id : `sha256:${createHash('sha256').update(id).digest('hex')}`;
    const entry = this.seen.get(key) ?? { attempts: 0, answered2xx: false };
    this.seen.delete(key);
    this.seen.set(key, entry);
    while (this.seen.size > this.capacity) this.seen.delete(this.seen.keys().next().value!);
    entry.attempts++;
    const retryAfter2xx = entry.answered2xx;
    return { attempt: entry.attempts, retryAfter2xx };
  }

  answered2xx(id: string): void {
    const key = id.length <= 200 ? id : `sha256:${createHash('sha256').update(id).digest('hex')}`;
    const entry = this.seen.get(key);
    if (entry) entry.answered2xx = true;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A field for the human line: strings and numbers, made printable and cut short; anything else is "?". */
function field(v: unknown, max = 80): string {
  if (typeof v !== 'string' && typeof v !== 'number') return '?';
  const text = printable(String(v));
  return text.length > max ? `${text.slice(0, max)}…` : text || '""';
}

/** The event part of the human line (type, order, amounts, refund or payment exception). */
export function describeEvent(event: unknown): string {
  const body = isObject(event) ? event : {};
  const type = typeof body.type === 'string' ? field(body.type, 40) : '(no type)';
  const data = isObject(body.data) ? body.data : {};
  const order = isObject(data.order) ? data.order : null;
  const refund = isObject(data.refund) ? data.refund : null;
  const exception = isObject(data.paymentException) ? data.paymentException : null;
  const known = ['order.paid', 'order.closed', 'order.refunded', 'refund.failed', 'payment.exception'].includes(type);
  if (!known || !order) {
    let rest = printable(JSON.stringify(event) ?? '');
    if (rest.length > 300) rest = `${rest.slice(0, 300)}…`;
    return `${type.padEnd(17)} ${rest}`;
  }
  const parts = [type.padEnd(17), field(order.orderNo), `amount ${field(order.amount)}`, `status ${field(order.status)}`];
  if (refund) parts.push(`refund ${field(refund.amount)} (outRequestNo ${field(refund.outRequestNo)}, ${field(refund.status)})`);
  if (exception) {
    parts.push(`exception ${field(exception.kind)} ${field(exception.amount)} trade ${field(exception.tradeNo)} (${field(exception.status)})`);
  }
  return parts.join('  ');
}

function clock(date: Date): string {
  return date.toTimeString().slice(0, 8);
}

function urlOf(host: string, port: number, path: string): string {
  return `http://${net.isIPv6(host) ? `[${host}]` : host}:${port}${path}`;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function hintFor(message: string): string {
  if (message === 'No matching signature found') return `${message} (wrong secret, or the body was changed)`;
  if (message === 'Message timestamp too old' || message === 'Message timestamp too new') return `${message} (more than 5 minutes off this clock)`;
  return message;
}

export interface Listener {
  server: http.Server;
  url: string;
}

/** Starts the receiver; resolves once it listens. `out` gets the event lines, `note` everything else. */
export function listen(args: ListenArgs & { secret: string }, out: (line: string) => void, note: (line: string) => void): Promise<Listener> {
  const webhook = new Webhook(args.secret);
  const attempts = new AttemptLog();
  let failed = 0;

  const server = http.createServer((req, res) => {
    req.on('error', () => undefined);
    const pathname = (req.url ?? '').split('?')[0];
    const now = new Date();
    if (pathname !== args.path) {
      note(`${clock(now)} NOT FOUND ${field(req.method, 10)} ${field(pathname, 100)} (this listener takes POST ${args.path}) → 404`);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'POST') {
      note(`${clock(now)} NOT ALLOWED ${field(req.method, 10)} ${args.path} (deliveries are POSTs) → 405`);
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('POST only\n');
      return;
    }
    const id = header(req, 'webhook-id');
    const shownId = id === undefined ? '(no webhook-id)' : field(id, 100);
    const tooLarge = (): void => {
      note(`${clock(now)} REJECTED ${shownId} body over ${MAX_BODY_BYTES} bytes → 413`);
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('body too large\n');
    };
    const declared = Number(header(req, 'content-length') ?? 0);
    if (declared > MAX_BODY_BYTES) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        over = true;
        chunks.length = 0;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (over) return;
      const body = Buffer.concat(chunks).toString('utf8');
      let event: unknown;
      try {
        event = webhook.verify(body, {
          ...(id !== undefined && { 'webhook-id': id }),
          ...(req.headers['webhook-timestamp'] !== undefined && { 'webhook-timestamp': header(req, 'webhook-timestamp')! }),
          ...(req.headers['webhook-signature'] !== undefined && { 'webhook-signature': header(req, 'webhook-signature')! }),
        });
        if (event === undefined) throw new WebhookVerificationError('signed, but the body is empty');
      } catch (err) {
        const reason =
          err instanceof WebhookVerificationError ? hintFor(err.message) : err instanceof SyntaxError ? 'signed, but the body is not JSON' : 'could not be verified';
        note(`${clock(now)} REJECTED ${shownId} ${reason} → 400`);
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`rejected: ${reason}\n`);
        return;
      }
      const { attempt, retryAfter2xx } = attempts.record(id!);
      const status = failed < args.fail ? 500 : 204;
      if (status === 500) failed++;
      else attempts.answered2xx(id!);
      if (args.json) {
        out(jsonLine({ receivedAt: now.toISOString(), webhookId: id, webhookTimestamp: header(req, 'webhook-timestamp'), attempt, retryAfter2xx, answered: status, event }));
      } else {
        const answer = status === 500 ? `→ 500 (--fail, ${failed} of ${args.fail})` : '→ 204';
        const retry = retryAfter2xx ? '  (retry of a delivery already answered 2xx)' : '';
        out(`${clock(now)} ${describeEvent(event)}  id ${shownId}  (attempt ${attempt})${retry} ${answer}`);
      }
      if (status === 500) res.writeHead(500, { 'content-type': 'text/plain' }).end('failing on purpose (--fail)\n');
      else res.writeHead(204).end();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(args.port, args.host, () => {
      server.off('error', reject);
      resolve({ server, url: urlOf(args.host, args.port, args.path) });
    });
  });
}

function listenError(err: NodeJS.ErrnoException, args: ListenArgs): string {
  const where = `${args.host}:${args.port}`;
  if (err.code === 'EADDRINUSE') return `port ${args.port} is already in use (on ${args.host}): stop what holds it or pick another with --port N`;
  if (err.code === 'EACCES') return `not allowed to listen on port ${args.port} (on ${args.host}): pick another with --port N`;
  if (err.code === 'EADDRNOTAVAIL') return `cannot listen on ${where}: ${args.host} is no address of this machine`;
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `cannot listen on ${where}: host ${args.host} not found`;
  return `cannot listen on ${where}: ${err.message}`;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: ListenArgs;
  try {
    args = parseListenArgs(argv, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  const generated = args.secret === null;
  const secret = args.secret ?? `whsec_${randomBytes(32).toString('base64')}`;
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  // With --json, stdout holds the JSON lines only, so it can be piped into jq.
  const note = args.json ? (line: string): void => void process.stderr.write(`${line}\n`) : out;
  let listener: Listener;
  try {
    listener = await listen({ ...args, secret }, out, note);
  } catch (err) {
    process.stderr.write(`webhooks:listen: ${listenError(err as NodeJS.ErrnoException, args)}\n`);
    return 1;
  }
  if (generated) note('No --secret or WEBHOOK_SECRET given: generated a fresh secret for this session.');
  note(`listening on ${listener.url}`);
  note('Start the service in another terminal with:');
  note(`WEBHOOK_URL=${listener.url} WEBHOOK_SECRET=${secret} npm start`);
  return new Promise((resolve) => {
    const stop = (): void => {
      listener.server.close(() => resolve(0));
      listener.server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`webhooks:listen failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
