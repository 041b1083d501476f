import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type OperationDefinitionNode } from 'graphql';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/** What the GraphQL layer learns about a request, for its log line. */
export interface RequestMeta {
  /** The client's operation name (free text: logged, clipped; never a metric label). */
  operationName?: string;
  /** query | mutation | subscription, and the first root field: a bounded label set fixed by the schema. */
  operationType?: string;
  rootField?: string;
}

const META = Symbol('requestMeta');
type WithMeta = IncomingMessage & { [META]?: RequestMeta };

/** The meta record of a request being observed (a fresh one, unattached, for anything else). */
export function requestMeta(req: IncomingMessage): RequestMeta {
  return ((req as WithMeta)[META] ??= {});
}

const KNOWN_ROUTES = new Set(['/graphql', '/graphql/schema.graphql', '/alipay/notify', '/alipay/return', '/healthz', '/readyz', '/metrics']);

/** The route label of a URL: one of a fixed set, whatever the caller sent. */
export function routeOf(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (KNOWN_ROUTES.has(path)) return path;
  if (path.startsWith('/graphql/ide/')) return '/graphql/ide/*';
  if (path === '/sandbox/alipay' || path.startsWith('/sandbox/alipay/')) return '/sandbox/alipay/*';
  if (path.startsWith('/dev/')) return '/dev/*';
  return 'other';
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']);

/**
 * Watches every HTTP request: when it is answered (or the client goes away), its duration goes to the
 * `http_request_duration_seconds` histogram by method, route and status, and — with a logger (LOG_REQUESTS) — one
 * log line: method, route, GraphQL operation, status, milliseconds. Never the URL's query or any header: a return
 * URL carries Alipay's signature, a request carries a token.
 */
export function requestObserver(metrics: Metrics, logger: Logger | null): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const startedAt = performance.now();
    const meta: RequestMeta = {};
    (req as WithMeta)[META] = meta;
    res.once('close', () => {
      const seconds = (performance.now() - startedAt) / 1000;
      const route = routeOf(req.url ?? '');
      const method = METHODS.has(req.method ?? '') ? (req.method as string) : 'other';
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.observe('http_request_duration_seconds', 'HTTP requests by method, route and status: time to answer', { method, route, status }, seconds);
      if (logger) {
        logger.info('request', {
          method,
          route,
          status: res.writableFinished ? res.statusCode : 'aborted',
          ms: Math.round(seconds * 10_000) / 10,
          ...(meta.operationType ? { operation: meta.operationName?.slice(0, 100) ?? null, operationType: meta.operationType, rootField: meta.rootField } : {}),
        });
      }
    });
  };
}

/**
 * GraphQL operations' durations (`graphql_operation_duration_seconds`, by type, first root field and outcome),
 * and the operation's name for the request's log line. Root fields come from the validated document, so the
 * labels are bounded by the schema; a request that does not parse or validate is labelled "invalid".
 */
export function operationMetricsPlugin(metrics: Metrics): ApolloServerPlugin<{ request?: RequestMeta }> {
  return {
    async requestDidStart({ contextValue }) {
      const startedAt = performance.now();
      let type = 'invalid';
      let field = 'invalid';
      return {
        async didResolveOperation({ operation, operationName }) {
          if (!operation) return;
          type = operation.operation;
          field = rootFieldOf(operation);
          if (contextValue.request) Object.assign(contextValue.request, { operationName: operationName ?? undefined, operationType: type, rootField: field });
        },
        async willSendResponse({ response }) {
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          const outcome = errors?.length ? 'error' : 'ok';
          metrics.observe(
            'graphql_operation_duration_seconds',
            'GraphQL operations over HTTP by type, first root field and outcome: time to answer',
            { type, field, outcome },
            (performance.now() - startedAt) / 1000,
          );
        },
      };
    },
  };
}

function rootFieldOf(operation: OperationDefinitionNode): string {
  const fields = operation.selectionSet.selections.filter((s) => s.kind === Kind.FIELD);
  const first = fields[0];
  if (!first || first.kind !== Kind.FIELD) return 'other';
  return fields.length > 1 ? `${first.name.value}+` : first.name.value;
}
