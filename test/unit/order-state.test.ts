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
    [TRADE_FINISHED, TRADE_CLOSED],
    [TRADE_CLOSED, WAIT_BUYER_PAY],
    [TRADE_FINISHED, WAIT_BUYER_PAY],
  ])('refuses the backward move %s → %s', (from, to) => {
    expect(decide(order(from, cause.tradeNo), to, cause)).toMatchObject({ outcome: 'REFUSE' });
  });

  it('makes a payment for an order closed unpaid a PAID_AFTER_CLOSE exception', () => {
    expect(decide(order(TRADE_CLOSED), TRADE_SUCCESS, cause)).toMatchObject({ outcome: 'EXCEPTION', kind: 'PAID_AFTER_CLOSE' });
    expect(decide(order(TRADE_CLOSED), TRADE_FINISHED, cause)).toMatchObject({ outcome: 'EXCEPTION', kind: 'PAID_AFTER_CLOSE' });
  });

  it("calls a late or replayed report of the order's own trade a repeat: after TRADE_FINISHED, or after a full refund closed it", () => {
    expect(decide(order(TRADE_FINISHED, cause.tradeNo), TRADE_SUCCESS, cause)).toEqual({ outcome: 'REPEAT' });
    expect(decide(order(TRADE_CLOSED, cause.tradeNo), TRADE_SUCCESS, cause)).toEqual({ outcome: 'REPEAT' });
    expect(decide(order(TRADE_CLOSED, cause.tradeNo), TRADE_FINISHED, cause)).toEqual({ outcome: 'REPEAT' });
  });

  it('closes a paid order only on a full refund', () => {
    const paid = order(TRADE_SUCCESS, cause.tradeNo);
    expect(decide(paid, TRADE_CLOSED, cause)).toMatchObject({ outcome: 'REFUSE' });
    expect(decide(paid, TRADE_CLOSED, { ...cause, refundedAmount: Money.parse('9.99') })).toMatchObject({ outcome: 'REFUSE' });
    expect(decide(paid, TRADE_CLOSED, { ...cause, refundedAmount: Money.parse('10.00') })).toEqual({ outcome: 'APPLY' });
  });

  it('makes a payment under another trade number than the one the order was paid with a PAID_TWICE exception', () => {
    expect(decide(order(TRADE_SUCCESS, 'A'), TRADE_FINISHED, { ...cause, tradeNo: 'B' })).toMatchObject({ outcome: 'EXCEPTION', kind: 'PAID_TWICE' });
    // The same status with another trade is a second payment, not a repeat; also after a full refund closed the order.
    expect(decide(order(TRADE_SUCCESS, 'A'), TRADE_SUCCESS, { ...cause, tradeNo: 'B' })).toMatchObject({ outcome: 'EXCEPTION', kind: 'PAID_TWICE' });
    expect(decide(order(TRADE_CLOSED, 'A'), TRADE_SUCCESS, { ...cause, tradeNo: 'B' })).toMatchObject({ outcome: 'EXCEPTION', kind: 'PAID_TWICE' });
    expect(decide(order(TRADE_SUCCESS, 'A'), TRADE_SUCCESS, { ...cause, tradeNo: 'A' })).toEqual({ outcome: 'REPEAT' });
    // Not a payment: refused, not an exception.
    expect(decide(order(TRADE_SUCCESS, 'A'), TRADE_CLOSED, { ...cause, tradeNo: 'B' })).toMatchObject({ outcome: 'REFUSE' });
  });
});
