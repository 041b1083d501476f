import { Arg, Ctx, Field, FieldResolver, ID, InputType, Mutation, Resolver, Root } from 'type-graphql';
import type { Money } from '../common/money';
import { notFound } from '../common/errors';
import { signedIn, type AppContext } from '../graphql/context';
import { MoneyScalar } from '../graphql/scalars';
import { Order } from '../orders/order.entity';
import type { OrderRecord } from '../orders/order.row';
import { Refund } from './refund.entity';
import type { RefundRecord } from './refund.row';

@InputType('RefundOrderInput', { description: 'A refund of all or part of a paid order' })
export class RefundOrderInput {
  @Field(() => ID)
  orderId!: string;

  @Field(() => MoneyScalar, { description: 'How much to give back; all refunds together are at most the amount paid' })
  amount!: Money;

  @Field(() => String, { nullable: true, description: 'Shown to the buyer by Alipay, up to 256 characters' })
  reason?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Retries with the same key are the same refund (same out_request_no); letters, digits, _ - : . up to 64',
  })
  idempotencyKey?: string | null;
}

@Resolver(() => Refund)
export class RefundResolver {
  @Mutation(() => Refund, { description: 'Refunds all or part of a paid order (admin only)' })
  refundOrder(@Arg('input', () => RefundOrderInput) input: RefundOrderInput, @Ctx() ctx: AppContext): Promise<RefundRecord> {
    return ctx.services.refunds.refundOrder(signedIn(ctx), input);
  }

  @FieldResolver(() => Order)
  async order(@Root() refund: RefundRecord, @Ctx() ctx: AppContext): Promise<OrderRecord> {
    const order = await ctx.loaders.orders.load(refund.orderId);
    if (!order) throw notFound('Order');
    return order;
  }
}

@Resolver(() => Order)
export class OrderRefundsResolver {
  @FieldResolver(() => [Refund], { description: "The order's refunds, oldest first" })
  refunds(@Root() order: OrderRecord, @Ctx() ctx: AppContext): Promise<RefundRecord[]> {
    return ctx.loaders.refunds.load(order.id);
  }
}
