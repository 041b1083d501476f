import type { IncomingMessage, ServerResponse } from 'node:http';
import { Router } from 'express';
import { ClientAbortError, FORM_CONTENT_TYPE, rawQuery, readBody } from '../common/http';
import { CallbackVerdict } from './callback-log.entity';
import { NOTIFY_BODY_LIMIT, type CallbackService, type NotifyReply } from './callback.service';
import { withQuery } from './pay-link.service';
import { HTML_HEADERS, renderReturnPage } from './return.page';

const MAX_QUERY = 8 * 1024;

function send(res: ServerResponse, reply: NotifyReply, status = reply.status): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(reply.body) });
  res.end(reply.body);
}

/**
 * POST /alipay/notify on plain node:http (the server routes it here directly; Express only for completeness):
 * read at most 64 KB, require a form body, hand it to the callback service, answer what it says.
 */
export function notifyHandler(callbacks: CallbackService, onError: (err: unknown) => void, onAbort?: (err: ClientAbortError) => void) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const remote = req.socket.remoteAddress ?? null;
      const body = await readBody(req, NOTIFY_BODY_LIMIT);
      if (!body.ok) {
        res.setHeader('Connection', 'close');
        send(res, await callbacks.refuseUnread(body.raw, `body larger than ${NOTIFY_BODY_LIMIT} bytes`, remote), 413);
        return;
      }
      if (!FORM_CONTENT_TYPE.test(req.headers['content-type'] ?? '')) {
        send(res, await callbacks.refuseUnread(body.raw, 'content type is not application/x-www-form-urlencoded', remote), 415);
        return;
      }
      send(res, await callbacks.notify(body.raw, remote));
    } catch (err) {
      if (err instanceof ClientAbortError) {
        res.destroy();
        onAbort?.(err);
        return;
      }
      onError(err);
      if (!res.headersSent) send(res, { status: 500, body: 'failure', verdict: CallbackVerdict.ERROR });
      else res.destroy();
    }
  };
}

/**
 * Alipay's REST side: POST /alipay/notify (form-urlencoded, ≤ 64 KB) answers `success` only after the order
 * change is committed; GET /alipay/return verifies the browser's return and redirects or shows the result.
 * Both are thin: read the request, call the callback service, write its answer.
 */
export function callbackRoutes(callbacks: CallbackService, options: { frontendReturnUrl: string | null; onError: (err: unknown) => void }): Router {
  const router = Router();

  const notify = notifyHandler(callbacks, options.onError);
  router.post('/alipay/notify', (req, res) => void notify(req, res));

  router.get('/alipay/return', async (req, res, next) => {
    try {
      const query = rawQuery(req);
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
