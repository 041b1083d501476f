import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { AppError, databaseUnavailable, type ErrorCode } from '../common/errors';
import { isDatabaseUnavailable } from '../db/sql';
import { LIMIT_CODES, tokenLimitError } from './limits';
import { rateLimitedWarning, type Logger } from '../common/logger';

/** Apollo's own request-level codes: safe to pass through as they are. */
const APOLLO_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
]);

function findAppError(error: unknown): AppError | null {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof AppError) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return null;
}

/**
 * Every error leaves with a stable `extensions.code`. Expected failures keep their message and code; a scalar
 * that refused a literal argument becomes BAD_USER_INPUT; anything unexpected is masked as
 * INTERNAL_SERVER_ERROR for the client and logged whole for the operator.
 */
/** The limit a refused document broke, from the rule's own error (Apollo wraps it as a validation error). */
function limitOf(error: unknown): { code: string; limit: unknown } | null {
  for (let current: unknown = error, depth = 0; current && depth < 4; depth++) {
    const extensions = (current as { extensions?: { code?: unknown; limit?: unknown } }).extensions;
    if (typeof extensions?.code === 'string' && (LIMIT_CODES as readonly string[]).includes(extensions.code)) return { code: extensions.code, limit: extensions.limit };
    current = (current as { originalError?: unknown }).originalError;
  }
  return null;
}

const SUGGESTION = / Did you mean .*\?$/;

export function errorFormatter(logger: Logger, options: { hideSuggestions?: boolean; maxTokens?: number } = {}) {
  const unavailableWarning = rateLimitedWarning(logger, 'database unavailable: GraphQL requests fail with DATABASE_UNAVAILABLE');
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const appError = findAppError(unwrapResolverError(error)) ?? findAppError(error);
    // Field suggestions ("Did you mean …?") would spell out the schema to strangers.
    const message = options.hideSuggestions ? formatted.message.replace(SUGGESTION, '') : formatted.message;
    const base = { message, locations: formatted.locations, path: formatted.path };
    const limit = limitOf(error);
    if (limit) return { ...base, extensions: { code: limit.code, limit: limit.limit } };
    if (!formatted.path && tokenLimitError(formatted.message)) {
      return { ...base, message: `Document has more than ${options.maxTokens} tokens`, extensions: { code: 'TOO_MANY_TOKENS', limit: options.maxTokens } };
    }
    if (appError) {
      const code: ErrorCode = appError.code;
      const text = formatted.extensions?.code === 'GRAPHQL_VALIDATION_FAILED' ? message : appError.message;
      return { ...base, message: text, extensions: { code, ...appError.details } };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && APOLLO_CODES.has(code)) return { ...base, extensions: { code } };
    // Apollo's persisted-query check answers 400 without a code: the client's mistake, not ours.
    if (formatted.message === 'provided sha does not match query' && !formatted.path) {
      logger.debug('persisted query hash mismatch');
      return { ...base, extensions: { code: 'PERSISTED_QUERY_HASH_MISMATCH' } };
    }
    if (isDatabaseUnavailable(unwrapResolverError(error))) {
      // An outage, not a bug: one short warning, and a code clients can retry on.
      unavailableWarning({ error: unwrapResolverError(error), path: formatted.path });
      const unavailable = databaseUnavailable();
      return { ...base, message: unavailable.message, extensions: { code: unavailable.code } };
    }
    logger.error('unexpected GraphQL error', { error: unwrapResolverError(error), path: formatted.path });
    return { ...base, message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}
