/**
 * Expected failures, each with the stable code clients see in `extensions.code`. Anything else that escapes a
 * service is unexpected: clients get a masked INTERNAL_SERVER_ERROR and operators get the whole error in the log.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'ORDER_NOT_PAYABLE'
  | 'ORDER_NOT_CLOSABLE'
  | 'ORDER_NOT_REFUNDABLE'
  | 'REFUND_AMOUNT_EXCEEDED'
  | 'REFUND_PENDING'
  | 'PAYMENT_EXCEPTION_RESOLVED'
  | 'ALIPAY_UNAVAILABLE'
  | 'DATABASE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Safe, client-visible details (never secrets). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const unauthenticated = (message = 'Sign in first: send a valid bearer token') =>
  new AppError('UNAUTHENTICATED', message);
export const forbidden = (message = 'Not allowed') => new AppError('FORBIDDEN', message);
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const badInput = (message: string, field?: string) =>
  new AppError('BAD_USER_INPUT', message, field ? { field } : {});
export const orderNotPayable = (message: string, status: string) =>
  new AppError('ORDER_NOT_PAYABLE', message, { status });
export const alipayUnavailable = (message: string, details: Record<string, unknown> = {}) =>
  new AppError('ALIPAY_UNAVAILABLE', message, details);
export const databaseUnavailable = () =>
  new AppError('DATABASE_UNAVAILABLE', 'The database is unreachable right now; nothing was changed by this request unless its answer said so. Retry shortly.');
