import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, InputType, Int, Mutation, ObjectType, Query, registerEnumType, Resolver, Root } from 'type-graphql';
import { notFound } from '../common/errors';
import { signedIn, type AppContext } from '../graphql/context';
import { PageInfo } from '../orders/order.connection';
import { Order } from '../orders/order.entity';
import type { OrderRecord } from '../orders/order.row';
import { PaymentException, PaymentExceptionStatus } from './payment-exception.entity';
import type { PaymentExceptionRecord } from './payment-exception.service';

export enum PaymentExceptionAction {
  REFUND = 'REFUND',
  KEEP = 'KEEP',
}
registerEnumType(PaymentExceptionAction, {
  name: 'PaymentExceptionAction',
  description: 'What an admin decides for a payment exception',
  valuesConfig: {
    REFUND: { description: 'Refund the whole payment through Alipay (by its trade_no)' },
    KEEP: { description: 'Keep the money (e.g. the goods are delivered after all)' },
  },
});

@InputType('PaymentExceptionFilter')
class PaymentExceptionFilter {
  @Field(() => PaymentExceptionStatus, { nullable: true })
  status?: PaymentExceptionStatus | null;

  @Field(() => String, { nullable: true, description: 'The order number (out_trade_no)' })
  orderNo?: string | null;
}

@ArgsType()
class PaymentExceptionsArgs {
  @Field(() => PaymentExceptionFilter, { nullable: true })
  filter?: PaymentExceptionFilter | null;

  @Field(() => Int, { nullable: true, description: 'How many, 1–100 (default 20)' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The endCursor of the previous page' })
  after?: string | null;
}

@ObjectType('PaymentExceptionEdge')
class PaymentExceptionEdge {
  @Field()
  cursor!: string;

  @Field(() => PaymentException)
  node!: PaymentExceptionRecord;
}

@ObjectType('PaymentExceptionConnection', { description: 'A page of payment exceptions, newest first' })
class PaymentExceptionConnection {
  @Field(() => [PaymentExceptionEdge])
  edges!: PaymentExceptionEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@Resolver(() => PaymentException)
export class PaymentExceptionResolver {
  @Query(() => PaymentExceptionConnection, { description: 'Verified payments that their order could not take, newest first (admin only)' })
  paymentExceptions(@Args(() => PaymentExceptionsArgs) args: PaymentExceptionsArgs, @Ctx() ctx: AppContext): Promise<PaymentExceptionConnection> {
    signedIn(ctx);
    return ctx.services.paymentExceptions.list(args.filter ?? {}, args.first, args.after);
  }

  @Mutation(() => PaymentException, { description: 'Refunds a payment exception in full, or keeps the money (admin only)' })
  resolvePaymentException(
    @Arg('id', () => ID) id: string,
    @Arg('action', () => PaymentExceptionAction) action: PaymentExceptionAction,
    @Ctx() ctx: AppContext,
  ): Promise<PaymentExceptionRecord> {
    return ctx.services.paymentExceptions.resolve(signedIn(ctx), id, action);
  }

  @FieldResolver(() => Order)
  async order(@Root() exception: PaymentExceptionRecord, @Ctx() ctx: AppContext): Promise<OrderRecord> {
    const order = await ctx.loaders.orders.load(exception.orderId);
    if (!order) throw notFound('Order');
    return order;
  }
}
