import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { DestinationError, guardedLookup, isPublicAddress } from './webhook.destination';

export interface SendOptions {
  timeoutMs: number;
  allowPrivate: boolean;
}

export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  /** The first bytes of the answer, control characters removed. */
  excerpt: string | null;
  durationMs: number;
}

/** How much of an answer is kept with the attempt, and how much is read before the connection is dropped. */
export const EXCERPT_BYTES = 512;
const READ_LIMIT = 16 * 1024;

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 16 }), https: new https.Agent({ keepAlive: true, maxSockets: 16 }) };

// eslint-disable-next-line no-control-regex
const clean = (text: string) => text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, '');

/**
 * POSTs one signed webhook. A 2xx within `timeoutMs` is delivered; anything else (another status, a redirect,
 * which is not followed, a timeout, a refused or private address) is a failure with its reason. The answer is
 * read only up to a small limit.
 */
export function sendWebhook(url: string, headers: Record<string, string>, body: string, options: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const done = (result: Omit<SendResult, 'durationMs'>): SendResult => ({ ...result, durationMs: Math.round(performance.now() - started) });
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
      const host = target.hostname.replace(/^\[|\]$/g, '');
      // An IP literal is connected to without a lookup: check it here.
      if (net.isIP(host) && !options.allowPrivate && !isPublicAddress(host)) {
        throw new DestinationError(`${host} is a private, loopback or link-local address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)`);
      }
    } catch (err) {
      resolve(done({ ok: false, statusCode: null, error: err instanceof DestinationError ? err.message : 'invalid URL', excerpt: null }));
      return;
    }
    const secure = target.protocol === 'https:';
    const payload = Buffer.from(body, 'utf8');
    let settled = false;
    const finish = (result: Omit<SendResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(done(result));
    };
    const request = (secure ? https : http).request(
      target,
      {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        lookup: guardedLookup(options.allowPrivate) as never,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length), 'user-agent': 'alipay-graphql-service-webhooks/1' },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let read = 0;
        const conclude = () => {
          const excerpt = read ? clean(Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8')) : null;
          const ok = status >= 200 && status < 300;
          const error = ok ? null : status >= 300 && status < 400 ? `answered ${status} (redirects are not followed)` : `answered ${status}`;
          finish({ ok, statusCode: status, error, excerpt });
        };
        response.on('data', (chunk: Buffer) => {
          if (read < EXCERPT_BYTES) chunks.push(chunk);
          read += chunk.length;
          if (read > READ_LIMIT) {
            conclude();
            response.destroy();
          }
        });
        response.on('end', conclude);
        response.on('error', () => conclude());
        response.on('close', conclude);
      },
    );
    const timer = setTimeout(() => {
      finish({ ok: false, statusCode: null, error: `no answer within ${options.timeoutMs} ms`, excerpt: null });
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (err: NodeJS.ErrnoException) => {
      const reason = err instanceof DestinationError ? err.message : (err.code ?? err.message);
      finish({ ok: false, statusCode: null, error: `could not connect: ${reason}`.slice(0, 300), excerpt: null });
    });
    request.end(payload);
  });
}
