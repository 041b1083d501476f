import { Money } from '../../src/common/money';
import { decide, PAID_STATUSES, TRANSITIONS } from '../../src/orders/order.state';
import { EventSource, OrderStatus } from '../../src/orders/order.types';

const { WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, TRADE_CLOSED } = OrderStatus;
const order = (status: OrderStatus, tradeNo: string | null = null) => ({ status, amount: Money.parse('10.00'), tradeNo });
const cause = { source: EventSource.NOTIFY, tradeNo: '2026112522001400000000000001' };

describe('the order transition table', () => {
  it('allows exactly the forward moves of the design', () => {
    const allowed = Object.entries(TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => `${from}→${to}`));
    expect(allowed.sort()).toEqual(
      [
        'WAIT_BUYER_PAY→TRADE_SUCCESS',
        'WAIT_BUYER_PAY→TRADE_FINISHED',
        'WAIT_BUYER_PAY→TRADE_CLOSED',
        'TRADE_SUCCESS→TRADE_FINISHED',
        'TRADE_SUCCESS→TRADE_CLOSED',
      ].sort(),
    );
  });

  it('treats TRADE_SUCCESS and TRADE_FINISHED as paid', () => {
    expect([...PAID_STATUSES].sort()).toEqual([TRADE_FINISHED, TRADE_SUCCESS]);
  });

  it('pays an unpaid order when Alipay gives a trade number', () => {
    expect(decide(order(WAIT_BUYER_PAY), TRADE_SUCCESS, cause)).toEqual({ outcome: 'APPLY' });
    expect(decide(order(WAIT_BUYER_PAY), TRADE_FINISHED, cause)).toEqual({ outcome: 'APPLY' });
  });

  it('refuses to mark an order paid without Alipay\'s trade number', () => {
    expect(decide(order(WAIT_BUYER_PAY), TRADE_SUCCESS, { source: EventSource.NOTIFY })).toMatchObject({ outcome: 'REFUSE' });
  });

  it('calls the same status again a repeat, which is a no-op', () => {
    for (const s of Object.values(OrderStatus)) expect(decide(order(s), s, cause)).toEqual({ outcome: 'REPEAT' });
  });

  it.each([
    [TRADE_SUCCESS, WAIT_BUYER_PAY],
    [TRADE_FINISHED, TRADE_SUCCESS],
    [TRADE_FINISHED, TRADE_CLOSED],
    [TRADE_CLOSED, WAIT_BUYER_PAY],
    [TRADE_FINISHED, WAIT_BUYER_PAY],
  ])('refuses the backward move %s → %s', (from, to) => {
    expect(decide(order(from, cause.tradeNo), to, cause)).toMatchObject({ outcome: 'REFUSE' });
  });

  it('refuses a payment for a closed order and says money may need refunding', () => {
    const d = decide(order(TRADE_CLOSED), TRADE_SUCCESS, cause);
    expect(d).toMatchObject({ outcome: 'REFUSE' });
    expect(d.outcome === 'REFUSE' && d.reason).toContain('refund');
  });

  it('closes a paid order only on a full refund', () => {
    const paid = order(TRADE_SUCCESS, cause.tradeNo);
    expect(decide(paid, TRADE_CLOSED, cause)).toMatchObject({ outcome: 'REFUSE' });
    expect(decide(paid, TRADE_CLOSED, { ...cause, refundedAmount: Money.parse('9.99') })).toMatchObject({ outcome: 'REFUSE' });
    expect(decide(paid, TRADE_CLOSED, { ...cause, refundedAmount: Money.parse('10.00') })).toEqual({ outcome: 'APPLY' });
  });

  it('refuses, and raises an alert for, a notify whose trade number differs from the one the order was paid with', () => {
    expect(decide(order(TRADE_SUCCESS, 'A'), TRADE_FINISHED, { ...cause, tradeNo: 'B' })).toMatchObject({ outcome: 'REFUSE', alert: true });
    // The same status with another trade is a second payment, not a repeat.
    expect(decide(order(TRADE_SUCCESS, 'A'), TRADE_SUCCESS, { ...cause, tradeNo: 'B' })).toMatchObject({ outcome: 'REFUSE', alert: true });
    expect(decide(order(TRADE_SUCCESS, 'A'), TRADE_SUCCESS, { ...cause, tradeNo: 'A' })).toEqual({ outcome: 'REPEAT' });
  });
});
