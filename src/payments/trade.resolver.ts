import { Args, ArgsType, Ctx, Field, ID, Mutation, Resolver } from 'type-graphql';
import { signedIn, type AppContext } from '../graphql/context';
import { Order } from '../orders/order.entity';
import type { OrderRecord } from '../orders/order.row';

@ArgsType()
class OrderIdArgs {
  @Field(() => ID)
  orderId!: string;
}

@Resolver(() => Order)
export class TradeResolver {
  @Mutation(() => Order, { description: 'Asks Alipay about the order and applies the answer (owner or admin)' })
  syncOrder(@Args(() => OrderIdArgs) args: OrderIdArgs, @Ctx() ctx: AppContext): Promise<OrderRecord> {
    return ctx.services.trades.syncOrder(signedIn(ctx), args.orderId);
  }

  @Mutation(() => Order, {
    description: 'Closes an unpaid order at Alipay, then here; if Alipay says it was paid meanwhile, it becomes paid (owner or admin)',
  })
  closeOrder(@Args(() => OrderIdArgs) args: OrderIdArgs, @Ctx() ctx: AppContext): Promise<OrderRecord> {
    return ctx.services.trades.closeOrder(signedIn(ctx), args.orderId);
  }
}
