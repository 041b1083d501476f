import { Router, type Response } from 'express';
import { FORM_CONTENT_TYPE, rawQuery, readBody } from '../common/http';
import { NOTIFY_BODY_LIMIT, type CallbackService, type NotifyReply } from './callback.service';
import { withQuery } from './pay-link.service';
import { HTML_HEADERS, renderReturnPage } from './return.page';

const MAX_QUERY = 8 * 1024;

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
      if (!FORM_CONTENT_TYPE.test(req.headers['content-type'] ?? '')) {
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
