import type { MikroORM } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import { TokenService, type AuthUser } from '../auth/token.service';
import type { ServiceContext } from '../common/context';
import { AppError, unauthenticated } from '../common/errors';
import type { Logger } from '../common/logger';
import type { UserService } from '../auth/user.service';
import type { OrderService } from '../orders/order.service';
import type { OrderHistoryService } from '../payments/order-history.service';
import type { PayLinkService } from '../payments/pay-link.service';
import type { PaymentExceptionService } from '../payments/payment-exception.service';
import type { RefundService } from '../payments/refund.service';
import type { TradeService } from '../payments/trade.service';
import type { OrderEvents } from './pubsub';
import type { WebhookService } from '../webhooks/webhook.service';
import type { ReconciliationService } from '../reconciliation/reconciliation.service';
import { createLoaders, type Loaders } from './loaders';
import type { RequestMeta } from '../common/request-log';

/** The long-lived services resolvers call; built once at start-up. */
export interface Services {
  users: UserService;
  orders: OrderService;
  payLinks: PayLinkService;
  trades: TradeService;
  refunds: RefundService;
  paymentExceptions: PaymentExceptionService;
  history: OrderHistoryService;
  orderEvents: OrderEvents;
  webhooks: WebhookService;
  reconciliation: ReconciliationService;
  logger: Logger;
}

/** Per request (or per subscription): who is calling, their own EntityManager fork, and the services. */
export interface AppContext {
  user: AuthUser | null;
  /** Why a token that was sent did not verify; reported by the isAuthenticated rule. */
  authError: AppError | null;
  em: EntityManager;
  services: Services;
  /** This request's batching loaders (created on first use). */
  loaders: Loaders;
  /** What this request's log line says about it (the operation), when it came over HTTP. */
  request?: RequestMeta;
}

/** Builds a context from an Authorization header value. A bad token is remembered, not thrown. */
export async function buildContext(
  deps: { orm: MikroORM; tokens: TokenService; services: Services },
  authorization: string | undefined,
  request?: RequestMeta,
): Promise<AppContext> {
  let em: EntityManager | null = null;
  let loaders: Loaders | null = null;
  let user: AuthUser | null = null;
  let authError: AppError | null = null;
  try {
    const token = TokenService.bearer(authorization);
    if (token) user = await deps.tokens.verify(token);
  } catch (err) {
    authError = err instanceof AppError ? err : unauthenticated('Token is malformed');
  }
  return {
    user,
    authError,
    services: deps.services,
    request,
    // Forked on first use: the hot mutations run plain SQL and never need one.
    get em() {
      return (em ??= deps.orm.em.fork() as EntityManager);
    },
    get loaders() {
      return (loaders ??= createLoaders(deps.services));
    },
  };
}

/** The signed-in caller as a service context; resolvers behind isAuthenticated can rely on it. */
export function signedIn(ctx: AppContext): ServiceContext {
  if (!ctx.user) throw ctx.authError ?? unauthenticated();
  return { user: ctx.user, em: ctx.em };
}
