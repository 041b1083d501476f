import DataLoader from 'dataloader';
import type { OrderRecord } from '../orders/order.row';
import type { HistoryEntry } from '../payments/order-history.service';
import type { RefundRecord } from '../payments/refund.row';
import type { OrderService } from '../orders/order.service';
import type { OrderHistoryService } from '../payments/order-history.service';
import type { RefundService } from '../payments/refund.service';
import type { WebhookAttemptRecord, WebhookService } from '../webhooks/webhook.service';

/**
 * Per-request batching of the reads a page of parents asks for one parent at a time (Order.events, Order.refunds,
 * Refund.order, PaymentException.order, WebhookDelivery.attemptLog): one statement per kind per request tick, whatever the page size. No
 * cache: a subscription keeps its context for hours, and every push must read the order as it is then.
 */
export interface Loaders {
  history: DataLoader<string, HistoryEntry[]>;
  refunds: DataLoader<string, RefundRecord[]>;
  orders: DataLoader<string, OrderRecord | null>;
  webhookAttempts: DataLoader<string, WebhookAttemptRecord[]>;
}

export function createLoaders(services: { history: OrderHistoryService; refunds: RefundService; orders: OrderService; webhooks: WebhookService }): Loaders {
  return {
    history: new DataLoader((ids) => services.history.histories(ids), { maxBatchSize: 500, cache: false }),
    refunds: new DataLoader((ids) => services.refunds.refundsOfMany(ids), { maxBatchSize: 500, cache: false }),
    orders: new DataLoader((ids) => services.orders.byIds(ids), { maxBatchSize: 500, cache: false }),
    webhookAttempts: new DataLoader((ids) => services.webhooks.attemptsOfMany(ids), { maxBatchSize: 500, cache: false }),
  };
}
