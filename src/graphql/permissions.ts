import { allow, deny, rule, shield } from 'graphql-shield';
import { AppError, forbidden, unauthenticated } from '../common/errors';
import type { AppContext } from './context';

/** Signed in with a token that verified. A token that was sent but failed says why. */
export const isAuthenticated = rule({ cache: 'contextual' })((_parent, _args, ctx: AppContext) =>
  ctx.user ? true : (ctx.authError ?? unauthenticated()),
);

/** Holds the admin role. */
export const isAdmin = rule({ cache: 'contextual' })((_parent, _args, ctx: AppContext) =>
  !ctx.user ? (ctx.authError ?? unauthenticated()) : ctx.user.isAdmin ? true : forbidden('Admins only'),
);

/**
 * Deny by default: every field of the schema is listed here with the one rule that guards it (a test fails when
 * a field is missing). Root fields check who is calling; fields of objects the caller may already see are
 * allowed. Ownership ("only your own orders") is enforced by the services' owner-scoped reads, which answer
 * NOT_FOUND for anybody else's order.
 */
export const ruleTree = {
  Query: {
    me: isAuthenticated,
    order: isAuthenticated,
    orderByNo: isAuthenticated,
    orders: isAuthenticated,
    paymentExceptions: isAdmin,
    adminOrders: isAdmin,
    callbacks: isAdmin,
    refunds: isAdmin,
    webhookEndpoints: isAdmin,
    webhookDeliveries: isAdmin,
    reconciliationReports: isAdmin,
  },
  Mutation: {
    createOrder: isAuthenticated,
    generatePayLink: isAuthenticated,
    syncOrder: isAuthenticated,
    closeOrder: isAuthenticated,
    refundOrder: isAdmin,
    resolvePaymentException: isAdmin,
    createWebhookEndpoint: isAdmin,
    disableWebhookEndpoint: isAdmin,
    redeliverWebhook: isAdmin,
    reconcile: isAdmin,
  },
  // graphql-shield does not see type-graphql subscriptions' subscribe step: it re-checks there too.
  Subscription: { orderStatusChanged: isAuthenticated },
  User: { id: allow, createdAt: allow, roles: allow },
  Order: {
    id: allow,
    orderNo: allow,
    subject: allow,
    body: allow,
    amount: allow,
    status: allow,
    tradeNo: allow,
    paidAt: allow,
    closedAt: allow,
    refundedAmount: allow,
    expiresAt: allow,
    createdAt: allow,
    events: allow,
    refunds: allow,
  },
  Refund: {
    id: allow,
    outRequestNo: allow,
    amount: allow,
    reason: allow,
    status: allow,
    failureReason: allow,
    createdAt: allow,
    updatedAt: allow,
    order: allow,
  },
  PaymentException: {
    id: allow,
    order: allow,
    tradeNo: allow,
    amount: allow,
    kind: allow,
    reason: allow,
    source: allow,
    status: allow,
    outRequestNo: allow,
    failureReason: allow,
    resolvedBy: allow,
    resolvedAt: allow,
    createdAt: allow,
    updatedAt: allow,
  },
  PaymentExceptionConnection: { edges: allow, pageInfo: allow },
  WebhookEndpoint: { id: allow, url: allow, events: allow, enabled: allow, fromEnv: allow, createdAt: allow, disabledAt: allow },
  WebhookEndpointWithSecret: { id: allow, url: allow, events: allow, enabled: allow, fromEnv: allow, createdAt: allow, disabledAt: allow, secret: allow },
  WebhookDelivery: {
    id: allow,
    eventId: allow,
    type: allow,
    endpointId: allow,
    payload: allow,
    status: allow,
    attempts: allow,
    nextAttemptAt: allow,
    lastAttemptAt: allow,
    lastStatusCode: allow,
    lastError: allow,
    deliveredAt: allow,
    createdAt: allow,
    attemptLog: allow,
  },
  WebhookDeliveryConnection: { edges: allow, pageInfo: allow },
  ReconciliationReport: {
    id: allow,
    billDate: allow,
    status: allow,
    trigger: allow,
    statementRows: allow,
    matched: allow,
    missingHere: allow,
    missingAtAlipay: allow,
    amountMismatches: allow,
    error: allow,
    createdAt: allow,
    finishedAt: allow,
    lines: allow,
  },
  ReconciliationReportConnection: { edges: allow, pageInfo: allow },
  ReconciliationReportEdge: { cursor: allow, node: allow },
  ReconciliationLine: { kind: allow, entry: allow, outTradeNo: allow, tradeNo: allow, refundRequestNo: allow, oursAmount: allow, alipayAmount: allow, detail: allow, action: allow },
  WebhookDeliveryEdge: { cursor: allow, node: allow },
  WebhookAttempt: { attempt: allow, startedAt: allow, durationMs: allow, statusCode: allow, error: allow, responseExcerpt: allow },
  PaymentExceptionEdge: { cursor: allow, node: allow },
  OrderEvent: { id: allow, type: allow, fromStatus: allow, toStatus: allow, source: allow, note: allow, at: allow },
  OrderConnection: { edges: allow, pageInfo: allow },
  AdminOrderConnection: { edges: allow, pageInfo: allow, totalCount: allow },
  RefundConnection: { edges: allow, pageInfo: allow, totalCount: allow },
  RefundEdge: { cursor: allow, node: allow },
  Callback: {
    id: allow,
    kind: allow,
    verdict: allow,
    reason: allow,
    signatureValid: allow,
    orderNo: allow,
    notifyId: allow,
    tradeStatus: allow,
    remoteAddress: allow,
    rawLength: allow,
    receivedAt: allow,
    order: allow,
  },
  CallbackConnection: { edges: allow, pageInfo: allow, totalCount: allow },
  CallbackEdge: { cursor: allow, node: allow },
  OrderEdge: { cursor: allow, node: allow },
  PageInfo: { hasNextPage: allow, endCursor: allow },
  PayLink: { channel: allow, url: allow, formHtml: allow, orderString: allow, qrCode: allow, expiresAt: allow },
};

export const permissions = shield(ruleTree, {
  fallbackRule: deny,
  fallbackError: () => new AppError('FORBIDDEN', 'Not allowed'),
  allowExternalErrors: true,
});
