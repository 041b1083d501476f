import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, parse, type GraphQLFormattedError, specifiedRules, validate, visit, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import type { AuthUser } from '../auth/token.service';
import { TokenService } from '../auth/token.service';
import { AppError, unauthenticated } from '../common/errors';
import type { Logger } from '../common/logger';
import { limitRules, type GraphQLLimits } from './limits';

export type IntrospectionPolicy = 'public' | 'authenticated' | 'off';

/** Whether a document asks for the schema (`__schema` or `__type`; `__typename` is ordinary). */
export function usesIntrospection(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') found = true;
    },
  });
  return found;
}

/** The refusal for an introspection the policy does not allow this caller; null when it may. */
export function introspectionRefusal(policy: IntrospectionPolicy, user: AuthUser | null): AppError | null {
  if (policy === 'public') return null;
  if (policy === 'off') return new AppError('FORBIDDEN', 'Introspection is off on this service (GRAPHQL_INTROSPECTION=off)');
  return user ? null : unauthenticated('Introspection needs a valid bearer token on this service (GRAPHQL_INTROSPECTION=authenticated)');
}

/** Apollo: applies the introspection policy once the operation is known (the caller's token is in the context). */
export function introspectionPlugin(policy: IntrospectionPolicy): ApolloServerPlugin<{ user: AuthUser | null }> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, contextValue }) {
          if (!usesIntrospection(document)) return;
          const refusal = introspectionRefusal(policy, contextValue.user);
          if (refusal) {
            throw new GraphQLError(refusal.message, {
              originalError: refusal,
              extensions: { http: { status: refusalStatus(refusal), headers: new Map() } },
            });
          }
        },
      };
    },
  };
}

/** A parse or validation error with Apollo's code; a limit rule's own code (and limit) stays on top. */
function coded(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { code, ...error.extensions } });
}

/** The HTTP status of an introspection refusal. */
export function refusalStatus(refusal: AppError): 401 | 403 {
  return refusal.code === 'UNAUTHENTICATED' ? 401 : 403;
}

interface SocketState {
  user: AuthUser | null;
  timer: NodeJS.Timeout | null;
  live: Set<string>;
}

/**
 * graphql-ws with the HTTP rules: the bearer token is checked in onConnect (missing or bad: the socket closes with
 * 4401 before any operation), every document is parsed with the token limit and validated with the same limits,
 * the introspection policy applies, at most `maxSubscriptions` live per socket and per user, and the socket
 * closes when its token expires.
 */
export function graphqlWsOptions(options: {
  schema: GraphQLSchema;
  tokens: TokenService;
  limits: GraphQLLimits;
  introspection: IntrospectionPolicy;
  maxSubscriptions: number;
  context: (authorization: string) => unknown;
  format: (errors: readonly GraphQLError[]) => GraphQLFormattedError[];
  logger: Logger;
}): ServerOptions<Record<string, unknown>, { state?: SocketState; socket?: { close(code: number, reason: string): void } }> {
  const rules = [...specifiedRules, ...limitRules(options.limits)];
  const perUser = new Map<string, number>();
  const release = (state: SocketState, id: string) => {
    if (!state.live.delete(id) || !state.user) return;
    const left = (perUser.get(state.user.id) ?? 1) - 1;
    if (left > 0) perUser.set(state.user.id, left);
    else perUser.delete(state.user.id);
  };
  const refuse = (message: string, code: string, extra: Record<string, unknown> = {}) => [new GraphQLError(message, { extensions: { code, ...extra } })];
  const authorizationOf = (params: Record<string, unknown> | undefined) => {
    const auth = params?.authorization ?? params?.Authorization;
    return typeof auth === 'string' ? auth : undefined;
  };
  return {
    schema: options.schema,
    onConnect: async (ctx) => {
      const close = (reason: string) => {
        ctx.extra.socket?.close(4401, reason);
        return false;
      };
      let user: AuthUser;
      try {
        const token = TokenService.bearer(authorizationOf(ctx.connectionParams));
        if (!token) return close('Unauthorized: send connectionParams.authorization = "Bearer <token>"');
        user = await options.tokens.verify(token);
      } catch (err) {
        return close(`Unauthorized: ${err instanceof AppError ? err.message : 'token is malformed'}`.slice(0, 120));
      }
      const state: SocketState = { user, timer: null, live: new Set() };
      if (user.expiresAt) {
        state.timer = setTimeout(() => ctx.extra.socket?.close(4401, 'Unauthorized: the token has expired'), Math.max(user.expiresAt - Date.now(), 0));
        state.timer.unref();
      }
      ctx.extra.state = state;
      return true;
    },
    onSubscribe: (ctx, id, payload) => {
      const state = ctx.extra.state!;
      // Coded as Apollo codes them over HTTP, so the one error formatter treats both transports alike (it also hides
      // suggestions in production and names the token limit).
      let document: DocumentNode;
      try {
        document = parse(payload.query, { maxTokens: options.limits.maxTokens });
      } catch (err) {
        return [coded(err as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
      }
      const errors = validate(options.schema, document, rules);
      if (errors.length) return errors.map((e) => coded(e, 'GRAPHQL_VALIDATION_FAILED'));
      if (usesIntrospection(document)) {
        const refusal = introspectionRefusal(options.introspection, state.user);
        if (refusal) return [new GraphQLError(refusal.message, { originalError: refusal })];
      }
      const userCount = state.user ? (perUser.get(state.user.id) ?? 0) : 0;
      if (state.live.size >= options.maxSubscriptions || userCount >= options.maxSubscriptions) {
        return refuse(`At most ${options.maxSubscriptions} live subscriptions per connection and per user`, 'TOO_MANY_SUBSCRIPTIONS', {
          limit: options.maxSubscriptions,
        });
      }
      state.live.add(id);
      if (state.user) perUser.set(state.user.id, userCount + 1);
      // contextValue is left out: graphql-ws fills it from the `context` option.
      const args: ExecutionArgs = { schema: options.schema, document, operationName: payload.operationName, variableValues: payload.variables };
      return args;
    },
    context: (ctx) => options.context(authorizationOf(ctx.connectionParams) ?? ''),
    onComplete: (ctx, id) => {
      if (ctx.extra.state) release(ctx.extra.state, id);
    },
    onClose: (ctx) => {
      const state = ctx.extra.state;
      if (!state) return;
      if (state.timer) clearTimeout(state.timer);
      for (const id of [...state.live]) release(state, id);
    },
    onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: options.format(result.errors) } : undefined),
    onError: (_ctx, _id, _payload, errors) => options.format(errors),
  };
}
