import 'reflect-metadata';
import path from 'node:path';
import { defineConfig } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { User } from './src/auth/user.entity';
import { Order } from './src/orders/order.entity';
import { OrderEvent } from './src/orders/order-event.entity';
import { CallbackLog } from './src/payments/callback-log.entity';
import { Refund } from './src/payments/refund.entity';
import { PaymentException } from './src/payments/payment-exception.entity';
import { OrderWatcher } from './src/graphql/order-watcher.entity';
import { SANDBOX_ENTITIES } from './src/sandbox/sandbox.entities';
import { WEBHOOK_ENTITIES } from './src/webhooks/webhook.entities';
import { RECONCILIATION_ENTITIES } from './src/reconciliation/reconciliation.entities';
import { migrationsList } from './src/db/migrations';

/**
 * The MikroORM settings shared by the service, the tests and the MikroORM CLI. Entities and migrations are listed
 * explicitly (no folder scanning), so the same config works from TypeScript sources and from the tsc build.
 * The connection URL is supplied by the caller (the service passes its embedded or configured database).
 */
export const ENTITIES = [User, Order, OrderEvent, CallbackLog, Refund, PaymentException, OrderWatcher, ...WEBHOOK_ENTITIES, ...RECONCILIATION_ENTITIES, ...SANDBOX_ENTITIES];

export default defineConfig({
  entities: ENTITIES,
  clientUrl: process.env.DATABASE_URL,
  extensions: [Migrator],
  migrations: {
    tableName: 'mikro_orm_migrations',
    path: path.join(__dirname, 'src/db/migrations'),
    pathTs: path.join(__dirname, 'src/db/migrations'),
    migrationsList,
    transactional: true,
    allOrNothing: true,
    snapshot: false,
    silent: true,
    emit: 'ts',
  },
  discovery: { requireEntitiesArray: true },
  forceUtcTimezone: true,
  ignoreUndefinedInQuery: true,
  debug: false,
  allowGlobalContext: false,
});
