import type { AlipayProvider } from '../alipay/alipay.provider';
import type { ServiceContext } from '../common/context';
import { orderNotPayable } from '../common/errors';
import type { OrderService } from '../orders/order.service';
import { OrderStatus } from '../orders/order.types';
import { PayChannel, type PayLink } from './pay-link.types';
import { alipayFailure } from './alipay-failure';
import type { Logger } from '../common/logger';

/**
 * Signed pay requests for the caller's own unpaid orders. The link carries the order's expiry as time_expire,
 * so Alipay itself refuses payment once the order would have closed here.
 */
export class PayLinkService {
  constructor(
    private readonly orders: OrderService,
    private readonly alipay: AlipayProvider,
    private readonly urls: { publicUrl: string; frontendReturnUrl: string | null },
    private readonly logger?: Logger,
  ) {}

  async generatePayLink(ctx: ServiceContext, orderId: string, channel: PayChannel): Promise<PayLink> {
    const order = await this.orders.findOwned(ctx, orderId);
    if (order.status !== OrderStatus.WAIT_BUYER_PAY) {
      throw orderNotPayable(`Order is ${order.status}; only WAIT_BUYER_PAY orders can be paid`, order.status);
    }
    const now = new Date();
    if (order.expiresAt.getTime() <= now.getTime()) {
      throw orderNotPayable('Order has expired; create a new one', order.status);
    }
    const trade = {
      outTradeNo: order.orderNo,
      totalAmount: order.amount.toString(),
      subject: order.subject,
      body: order.body,
      expiresAt: order.expiresAt,
      quitUrl: this.urls.frontendReturnUrl ? withQuery(this.urls.frontendReturnUrl, { orderId: order.id }) : undefined,
    };
    const notifyUrl = `${this.urls.publicUrl}/alipay/notify`;
    if (channel === PayChannel.QR) {
      let qrCode: string;
      try {
        ({ qrCode } = await this.alipay.precreate(trade, notifyUrl));
      } catch (err) {
        throw alipayFailure(err, 'create the QR code');
      }
      this.issued(order, channel);
      return { channel, url: null, formHtml: null, orderString: null, qrCode, expiresAt: order.expiresAt };
    }
    const signed = await this.alipay.payRequest(channel, trade, { notifyUrl, returnUrl: `${this.urls.publicUrl}/alipay/return` }, now);
    this.issued(order, channel);
    return { channel, url: signed.url, formHtml: signed.formHtml, orderString: signed.orderString, qrCode: null, expiresAt: order.expiresAt };
  }

  private issued(order: { orderNo: string; amount: { toString(): string }; expiresAt: Date }, channel: PayChannel): void {
    this.logger?.info('pay link issued', { event: 'pay_link.issued', orderNo: order.orderNo, amount: order.amount.toString(), channel, expiresAt: order.expiresAt.toISOString() });
  }
}

/** Adds query parameters to a URL that may already have some. */
export function withQuery(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}
