import type { CommittedEvent } from '../db/sql';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/** The log line (message, level) of a committed business event, or null for one logged where it happens. */
function describe(event: CommittedEvent): { msg: string; level: 'info' | 'warn' } | null {
  switch (event.type) {
    case 'order.created':
      return { msg: 'order created', level: 'info' };
    case 'order.status_changed': {
      const { from, to, source } = event as CommittedEvent & { from: string; to: string; source: string };
      if (to === 'TRADE_SUCCESS') return { msg: 'order paid', level: 'info' };
      if (to === 'TRADE_FINISHED') return { msg: 'order finished (no more refunds)', level: 'info' };
      if (to === 'TRADE_CLOSED' && from === 'WAIT_BUYER_PAY') return { msg: source === 'JOB' ? 'order expired' : 'order closed', level: 'info' };
      if (to === 'TRADE_CLOSED') return { msg: 'order closed: refunded in full', level: 'info' };
      return { msg: `order ${to}`, level: 'info' };
    }
    case 'order.refunded':
      return { msg: 'order refunded', level: 'info' };
    case 'refund.failed':
      return { msg: 'refund failed', level: 'warn' };
    default:
      // payment.exception: the payment-exception service logs it (once, loudly) when it acts on it.
      return null;
  }
}

/**
 * What the service does with a committed business event besides the webhooks: one log line with its order
 * number and amounts, and a counter. Called after the commit, so a rolled-back change leaves no line.
 */
export function reportCommitted(logger: Logger, metrics: Metrics): (events: readonly CommittedEvent[]) => void {
  return (events) => {
    for (const event of events) {
      const { type, ...fields } = event;
      metrics.inc('business_events_total', 'Committed business events (order created, paid, closed, refunded, …)', { type: metricType(event) });
      const line = describe(event);
      if (line) logger[line.level](line.msg, { event: type, ...fields });
    }
  };
}

/** A bounded label: the event type, and for a status change the status it reached. */
function metricType(event: CommittedEvent): string {
  return event.type === 'order.status_changed' ? `order.status_changed.${String(event.to)}` : event.type;
}
