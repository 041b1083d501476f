import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { AppContext } from '../graphql/context';
import { Order } from '../orders/order.entity';
import { OrderEvent } from '../orders/order-event.entity';
import type { OrderRecord } from '../orders/order.row';
import type { HistoryEntry } from './order-history.service';

@Resolver(() => Order)
export class OrderHistoryResolver {
  @FieldResolver(() => [OrderEvent], { description: "The order's history, oldest first: status changes and callbacks" })
  events(@Root() order: OrderRecord, @Ctx() ctx: AppContext): Promise<HistoryEntry[]> {
    return ctx.loaders.history.load(order.id);
  }
}
