import { Arg, Args, ArgsType, Ctx, Field, ID, InputType, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { signedIn, type AppContext } from '../graphql/context';
import { AdminOrderConnection, OrderConnection } from './order.connection';
import { Order } from './order.entity';
import { CreateOrderInput } from './order.inputs';
import type { OrderRecord } from './order.row';
import { OrderStatus } from './order.types';

@ArgsType()
class OrdersArgs {
  @Field(() => Int, { nullable: true, description: 'How many, 1–100 (default 20)' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The endCursor of the previous page' })
  after?: string | null;

  @Field(() => OrderStatus, { nullable: true, description: 'Only orders in this status' })
  status?: OrderStatus | null;
}

@InputType('AdminOrderFilter', { description: 'Each field given narrows the list; all of them together' })
class AdminOrderFilter {
  @Field(() => String, { nullable: true, description: 'The order number (out_trade_no), exactly' })
  orderNo?: string | null;

  @Field(() => OrderStatus, { nullable: true })
  status?: OrderStatus | null;

  @Field(() => String, { nullable: true, description: "The owner's user id (their token's sub)" })
  userId?: string | null;

  @Field(() => Date, { nullable: true, description: 'Created at or after this instant' })
  createdAfter?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Created before this instant' })
  createdBefore?: Date | null;
}

@ArgsType()
class AdminOrdersArgs {
  @Field(() => AdminOrderFilter, { nullable: true })
  filter?: AdminOrderFilter | null;

  @Field(() => Int, { nullable: true, description: 'How many, 1–100 (default 20)' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The endCursor of the previous page' })
  after?: string | null;
}

@Resolver(() => Order)
export class OrderResolver {
  @Mutation(() => Order, { description: 'Creates an order in WAIT_BUYER_PAY' })
  createOrder(@Arg('input', () => CreateOrderInput) input: CreateOrderInput, @Ctx() ctx: AppContext): Promise<OrderRecord> {
    return ctx.services.orders.createOrder(signedIn(ctx), input);
  }

  @Query(() => Order, { nullable: true, description: "One of the caller's orders (any order for an admin)" })
  order(@Arg('id', () => ID) id: string, @Ctx() ctx: AppContext): Promise<OrderRecord> {
    return ctx.services.orders.findVisible(signedIn(ctx), id);
  }

  @Query(() => OrderConnection, { description: "The caller's orders, newest first" })
  orders(@Args(() => OrdersArgs) args: OrdersArgs, @Ctx() ctx: AppContext): Promise<OrderConnection> {
    return ctx.services.orders.listOrders(signedIn(ctx), args);
  }

  @Query(() => Order, { nullable: true, description: "An order by its number (out_trade_no): the caller's own, or any for an admin" })
  orderByNo(@Arg('orderNo', () => String) orderNo: string, @Ctx() ctx: AppContext): Promise<OrderRecord> {
    return ctx.services.orders.findVisibleByNo(signedIn(ctx), orderNo);
  }

  @Query(() => AdminOrderConnection, { description: "Every user's orders, newest first, filtered, with totalCount (admin only)" })
  adminOrders(@Args(() => AdminOrdersArgs) args: AdminOrdersArgs, @Ctx() ctx: AppContext): Promise<AdminOrderConnection> {
    return ctx.services.orders.adminOrders(signedIn(ctx), args.filter ?? {}, args.first, args.after);
  }

  @Subscription(() => Order, {
    description:
      "Sends the order as it is now, then again each time its status changes (the caller's own order, or any for an admin)",
    subscribe: async ({ args, context }) => {
      const ctx = context as AppContext;
      const order = await ctx.services.orders.findVisible(signedIn(ctx), args.orderId as string);
      return currentThenChanges(ctx, order, await ctx.services.orderEvents.subscribe(order.id));
    },
  })
  orderStatusChanged(@Root() order: OrderRecord, @Arg('orderId', () => ID) _orderId: string): OrderRecord {
    return order;
  }
}

/**
 * The order now, then the order after each change. Listening starts before the current state is sent, so a
 * change committed in between is not missed. Written as a plain iterator, not an async generator: a generator
 * parked on `await` cannot be returned until the next change arrives, which would leak every closed
 * subscription to an order that never changes again.
 */
function currentThenChanges(ctx: AppContext, order: OrderRecord, ids: AsyncIterable<string>): AsyncIterableIterator<OrderRecord> {
  const changes = ids[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<string>> | null = changes.next();
  let sentCurrent = false;
  let finished = false;
  const end = (): IteratorResult<OrderRecord> => ({ done: true, value: undefined });
  return {
    async next(): Promise<IteratorResult<OrderRecord>> {
      if (finished) return end();
      if (!sentCurrent) {
        sentCurrent = true;
        return { done: false, value: order };
      }
      for (;;) {
        const change = await (pending ?? changes.next());
        pending = null;
        if (change.done || finished) {
          finished = true;
          return end();
        }
        const fresh = await ctx.services.orders.byId(change.value);
        if (fresh) return { done: false, value: fresh };
      }
    },
    async return(): Promise<IteratorResult<OrderRecord>> {
      finished = true;
      await changes.return?.();
      return end();
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
