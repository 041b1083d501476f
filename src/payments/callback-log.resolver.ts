import { Args, ArgsType, Ctx, Field, FieldResolver, InputType, Int, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { signedIn, type AppContext } from '../graphql/context';
import { PageInfo } from '../orders/order.connection';
import { Order } from '../orders/order.entity';
import type { OrderRecord } from '../orders/order.row';
import { CallbackKind, CallbackLog, CallbackVerdict } from './callback-log.entity';
import type { CallbackRecord } from './callback-log.row';

@InputType('CallbackFilter', { description: 'Each field given narrows the list; all of them together' })
class CallbackFilter {
  @Field(() => String, { nullable: true, description: 'The out_trade_no the callback named (verified or not), exactly' })
  orderNo?: string | null;

  @Field(() => CallbackKind, { nullable: true })
  kind?: CallbackKind | null;

  @Field(() => CallbackVerdict, { nullable: true })
  verdict?: CallbackVerdict | null;

  @Field(() => Date, { nullable: true, description: 'Received at or after this instant' })
  receivedAfter?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Received before this instant' })
  receivedBefore?: Date | null;
}

@ArgsType()
class CallbacksArgs {
  @Field(() => CallbackFilter, { nullable: true })
  filter?: CallbackFilter | null;

  @Field(() => Int, { nullable: true, description: 'How many, 1–100 (default 20)' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The endCursor of the previous page' })
  after?: string | null;
}

@ObjectType('CallbackEdge')
class CallbackEdge {
  @Field()
  cursor!: string;

  @Field(() => CallbackLog)
  node!: CallbackRecord;
}

@ObjectType('CallbackConnection', { description: 'A page of recorded callbacks, newest first' })
class CallbackConnection {
  @Field(() => [CallbackEdge])
  edges!: CallbackEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int, { description: 'How many callbacks match the filter in all (counted only when asked for)' })
  totalCount!: Promise<number>;
}

@Resolver(() => CallbackLog)
export class CallbackLogResolver {
  @Query(() => CallbackConnection, { description: 'Every callback received (notifies and returns, verified or not), newest first (admin only)' })
  callbacks(@Args(() => CallbacksArgs) args: CallbacksArgs, @Ctx() ctx: AppContext): Promise<CallbackConnection> {
    return ctx.services.history.callbacks(signedIn(ctx), args.filter ?? {}, args.first, args.after);
  }

  @FieldResolver(() => Order, { nullable: true, description: 'The order it named, once its signature verified' })
  async order(@Root() callback: CallbackRecord, @Ctx() ctx: AppContext): Promise<OrderRecord | null> {
    return callback.orderId ? ctx.loaders.orders.load(callback.orderId) : null;
  }
}
