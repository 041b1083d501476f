import { createPubSub } from '@graphql-yoga/subscription';
import { applyMiddleware } from 'graphql-middleware';
import { printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { UserResolver } from '../auth/user.resolver';
import { OrderResolver } from '../orders/order.resolver';
import { PayLinkResolver } from '../payments/pay-link.resolver';
import { OrderRefundsResolver, RefundResolver } from '../payments/refund.resolver';
import { TradeResolver } from '../payments/trade.resolver';
import { OrderHistoryResolver } from '../payments/order-history.resolver';
import { PaymentExceptionResolver } from '../payments/payment-exception.resolver';
import { CallbackLogResolver } from '../payments/callback-log.resolver';
import { WebhookResolver } from '../webhooks/webhook.resolver';
import { ReconciliationResolver } from '../reconciliation/reconciliation.resolver';
import { permissions } from './permissions';

export const RESOLVERS = [UserResolver, OrderResolver, PayLinkResolver, TradeResolver, RefundResolver, OrderRefundsResolver, OrderHistoryResolver, PaymentExceptionResolver, CallbackLogResolver, WebhookResolver, ReconciliationResolver] as const;

/** The schema as the code declares it, before permissions are applied: what schema.graphql holds. */
export function buildBareSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [...RESOLVERS],
    validate: false,
    disableInferringDefaultValues: true,
    emitSchemaFile: false,
    // Required by type-graphql for any subscription; ours subscribe through OrderEvents (PostgreSQL LISTEN).
    pubSub: createPubSub(),
  });
}

/** The schema the server runs: the bare schema behind the graphql-shield permissions. */
export async function buildAppSchema(): Promise<GraphQLSchema> {
  return applyMiddleware(await buildBareSchema(), permissions);
}

const HEADER = '# Generated from the code by `npm run schema`; a test fails when this file and the code differ.\n\n';

/** schema.graphql's text. */
export function printAppSchema(schema: GraphQLSchema): string {
  return `${HEADER}${printSchema(schema)}\n`;
}
