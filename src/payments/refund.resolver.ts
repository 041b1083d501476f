import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, InputType, Int, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import type { Money } from '../common/money';
import { notFound } from '../common/errors';
import { signedIn, type AppContext } from '../graphql/context';
import { MoneyScalar } from '../graphql/scalars';
import { PageInfo } from '../orders/order.connection';
import { Order } from '../orders/order.entity';
import type { OrderRecord } from '../orders/order.row';
import { Refund, RefundStatus } from './refund.entity';
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

@InputType('RefundFilter')
class RefundFilter {
  @Field(() => RefundStatus, { nullable: true })
  status?: RefundStatus | null;

  @Field(() => String, { nullable: true, description: "The order's number (out_trade_no)" })
  orderNo?: string | null;
}

@ArgsType()
class RefundsArgs {
  @Field(() => RefundFilter, { nullable: true })
  filter?: RefundFilter | null;

  @Field(() => Int, { nullable: true, description: 'How many, 1–100 (default 20)' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The endCursor of the previous page' })
  after?: string | null;
}

@ObjectType('RefundEdge')
class RefundEdge {
  @Field()
  cursor!: string;

  @Field(() => Refund)
  node!: RefundRecord;
}

@ObjectType('RefundConnection', { description: 'A page of refunds, newest first' })
class RefundConnection {
  @Field(() => [RefundEdge])
  edges!: RefundEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int, { description: 'How many refunds match the filter in all (counted only when asked for)' })
  totalCount!: Promise<number>;
}

@Resolver(() => Refund)
export class RefundResolver {
  @Query(() => RefundConnection, { description: "Every order's refunds, newest first, by status and order number (admin only)" })
  refunds(@Args(() => RefundsArgs) args: RefundsArgs, @Ctx() ctx: AppContext): Promise<RefundConnection> {
    return ctx.services.refunds.list(signedIn(ctx), args.filter ?? {}, args.first, args.after);
  }

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
