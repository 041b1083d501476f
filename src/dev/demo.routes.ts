import { Router } from 'express';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Money } from '../common/money';
import type { OrderService } from '../orders/order.service';
import type { PayLinkService } from '../payments/pay-link.service';
import { PayChannel } from '../payments/pay-link.types';

/**
 * The one-minute demo (development with the local Alipay only): GET /dev/demo-payment creates a ¥0.01 order for
 * the dev user and sends the browser to its pay link; press Pay in the local cashier and Alipay's notify marks
 * it paid; the return page then shows TRADE_SUCCESS.
 */
export function demoRoutes(deps: { orders: OrderService; payLinks: PayLinkService; em: () => EntityManager }): Router {
  const router = Router();
  router.get('/dev/demo-payment', async (_req, res, next) => {
    try {
      const ctx = { user: { id: 'dev-user', roles: [], isAdmin: false }, em: deps.em() };
      const order = await deps.orders.createOrder(ctx, { amount: Money.parse('0.01'), subject: 'Demo: 一杯茶 (a cup of tea)' });
      const link = await deps.payLinks.generatePayLink(ctx, order.id, PayChannel.PAGE);
      res.redirect(303, link.url as string);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
