import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type Body = { ok: true; raw: Buffer } | { ok: false; raw: Buffer };

/** The client went away (aborted, reset) before its body was read: nothing to answer, and not our fault. */
export class ClientAbortError extends Error {
  override name = 'ClientAbortError';
}

/**
 * Reads a request body up to `limit` bytes. Past that it stops reading and returns what it has as too large
 * (`ok: false`), so the caller can answer 413 without buffering an attacker's gigabytes.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      resolve({ ok: false, raw: Buffer.alloc(0) });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve({ ok: false, raw: Buffer.concat(chunks) });
        return;
      }
      chunks.push(chunk);
    };
    let ended = false;
    req.on('data', onData);
    req.once('end', () => {
      ended = true;
      resolve({ ok: true, raw: Buffer.concat(chunks) });
    });
    req.once('error', (err) => reject(new ClientAbortError(`the client went away while sending its body (${(err as NodeJS.ErrnoException).code ?? err.message})`)));
    // A socket that closes before the end of the body would otherwise leave this promise pending forever.
    req.once('close', () => {
      if (!ended) reject(new ClientAbortError('the client closed the connection before the end of its body'));
    });
  });
}

/** The raw (still percent-encoded) query string of a request. */
export function rawQuery(req: IncomingMessage): string {
  const url = req.url ?? '';
  const at = url.indexOf('?');
  return at < 0 ? '' : url.slice(at + 1);
}

export const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded(\s*;|$)/i;

/** Whether an Authorization header is exactly `Bearer <token>`, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
