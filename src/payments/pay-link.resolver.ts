import { Args, ArgsType, Ctx, Field, ID, Mutation, Resolver } from 'type-graphql';
import { signedIn, type AppContext } from '../graphql/context';
import { PayChannel, PayLink } from './pay-link.types';

@ArgsType()
class GeneratePayLinkArgs {
  @Field(() => ID)
  orderId!: string;

  @Field(() => PayChannel, { nullable: true, defaultValue: PayChannel.PAGE })
  channel?: PayChannel | null;
}

@Resolver(() => PayLink)
export class PayLinkResolver {
  @Mutation(() => PayLink, { description: "A signed Alipay pay request for one of the caller's unpaid orders" })
  generatePayLink(@Args(() => GeneratePayLinkArgs) args: GeneratePayLinkArgs, @Ctx() ctx: AppContext): Promise<PayLink> {
    return ctx.services.payLinks.generatePayLink(signedIn(ctx), args.orderId, args.channel ?? PayChannel.PAGE);
  }
}
