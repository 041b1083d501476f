import { registerEnumType } from 'type-graphql';

/** An order's status, in Alipay's own words. */
export enum OrderStatus {
  WAIT_BUYER_PAY = 'WAIT_BUYER_PAY',
  TRADE_SUCCESS = 'TRADE_SUCCESS',
  TRADE_FINISHED = 'TRADE_FINISHED',
  TRADE_CLOSED = 'TRADE_CLOSED',
}

/** What an entry in an order's history records. */
export enum OrderEventType {
  CREATED = 'CREATED',
  STATUS_CHANGED = 'STATUS_CHANGED',
  TRANSITION_REFUSED = 'TRANSITION_REFUSED',
  CALLBACK = 'CALLBACK',
}

/** Who or what caused an entry in an order's history. */
export enum EventSource {
  API = 'API',
  NOTIFY = 'NOTIFY',
  RETURN = 'RETURN',
  SYNC = 'SYNC',
  JOB = 'JOB',
  ADMIN = 'ADMIN',
}

registerEnumType(OrderStatus, {
  name: 'OrderStatus',
  description: "An order's status, in Alipay's words",
  valuesConfig: {
    WAIT_BUYER_PAY: { description: 'Created, not paid yet' },
    TRADE_SUCCESS: { description: 'Paid; refunds are still possible' },
    TRADE_FINISHED: { description: 'Paid and final; no more refunds' },
    TRADE_CLOSED: { description: 'Closed unpaid (timeout or closeOrder), or fully refunded' },
  },
});
registerEnumType(OrderEventType, { name: 'OrderEventType', description: 'What an order history entry records' });
registerEnumType(EventSource, { name: 'EventSource', description: 'What caused an order history entry' });
