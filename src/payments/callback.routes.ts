import { Router, type Request, type Response } from 'express';
import { NOTIFY_BODY_LIMIT, type CallbackService, type NotifyReply } from './callback.service';
import { withQuery } from './pay-link.service';
import { HTML_HEADERS, renderReturnPage } from './return.page';

const FORM = /^application\/x-www-form-urlencoded(\s*;|$)/i;
const MAX_QUERY = 8 * 1024;

type Body = { ok: true; raw: Buffer } | { ok: false; raw: Buffer };

/** Reads a request body up to `limit` bytes; past that it stops reading and returns what it has as too large. */
function readBody(req: Request, limit: number): Promise<Body> {
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
    req.on('data', onData);
    req.once('end', () => resolve({ ok: true, raw: Buffer.concat(chunks) }));
    req.once('error', reject);
  });
}

function send(res: Response, reply: NotifyReply, status = reply.status): void {
  res.status(status).type('text/plain').send(reply.body);
}

/**
 * Alipay's REST side: POST /alipay/notify (form-urlencoded, ≤ 64 KB) answers `success` only after the order
 * change is committed; GET /alipay/return verifies the browser's return and redirects or shows the result.
 * Both are thin: read the request, call the callback service, write its answer.
 */
export function callbackRoutes(callbacks: CallbackService, options: { frontendReturnUrl: string | null }): Router {
  const router = Router();

  router.post('/alipay/notify', async (req, res, next) => {
    try {
      const remote = req.socket.remoteAddress ?? null;
      const body = await readBody(req, NOTIFY_BODY_LIMIT);
      if (!body.ok) {
        res.setHeader('Connection', 'close');
        send(res, await callbacks.refuseUnread(body.raw, `body larger than ${NOTIFY_BODY_LIMIT} bytes`, remote), 413);
        return;
      }
      if (!FORM.test(req.headers['content-type'] ?? '')) {
        send(res, await callbacks.refuseUnread(body.raw, 'content type is not application/x-www-form-urlencoded', remote), 415);
        return;
      }
      send(res, await callbacks.notify(body.raw, remote));
    } catch (err) {
      next(err);
    }
  });

  router.get('/alipay/return', async (req, res, next) => {
    try {
      const at = req.url.indexOf('?');
      const query = at < 0 ? '' : req.url.slice(at + 1);
      if (query.length > MAX_QUERY) {
        res.status(414).set(HTML_HEADERS).send(renderReturnPage({ verified: false, order: null, reason: 'too long' }));
        return;
      }
      const outcome = await callbacks.returned(query, req.socket.remoteAddress ?? null);
      if (!outcome.verified || !outcome.order) {
        res.status(400).set(HTML_HEADERS).send(renderReturnPage(outcome));
        return;
      }
      if (options.frontendReturnUrl) {
        res.redirect(302, withQuery(options.frontendReturnUrl, { orderId: outcome.order.id, status: outcome.order.status }));
        return;
      }
      res.status(200).set(HTML_HEADERS).send(renderReturnPage(outcome));
    } catch (err) {
      next(err);
    }
  });

  return router;
}
