import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, InputType, Int, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { signedIn, type AppContext } from '../graphql/context';
import { PageInfo } from '../orders/order.connection';
import { WebhookAttempt, WebhookDelivery, WebhookEndpoint } from './webhook.entities';
import type { WebhookAttemptRecord, WebhookDeliveryRecord, WebhookEndpointRecord } from './webhook.service';

@InputType('CreateWebhookEndpointInput')
class CreateWebhookEndpointInput {
  @Field({ description: 'http(s) URL that receives the signed POSTs (in production: a public address)' })
  url!: string;

  @Field(() => [String], { nullable: true, description: 'order.paid, order.closed, order.refunded, refund.failed, payment.exception; none: all of them' })
  events?: string[] | null;
}

@ObjectType('WebhookEndpointWithSecret', { description: 'A new endpoint and its signing secret, shown this once' })
class WebhookEndpointWithSecret extends WebhookEndpoint {
  @Field({ description: 'whsec_… : verify the webhook-signature header with it (Standard Webhooks); it is not shown again' })
  override secret!: string;
}

@ArgsType()
class WebhookDeliveriesArgs {
  @Field(() => ID)
  endpointId!: string;

  @Field(() => Int, { nullable: true, description: 'How many, 1–100 (default 20)' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The endCursor of the previous page' })
  after?: string | null;
}

@ObjectType('WebhookDeliveryEdge')
class WebhookDeliveryEdge {
  @Field()
  cursor!: string;

  @Field(() => WebhookDelivery)
  node!: WebhookDeliveryRecord;
}

@ObjectType('WebhookDeliveryConnection', { description: "A page of an endpoint's deliveries, newest first" })
class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryEdge])
  edges!: WebhookDeliveryEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

/** Merchant webhook endpoints and their deliveries (admin only; thin: the service decides). */
@Resolver(() => WebhookDelivery)
export class WebhookResolver {
  @Mutation(() => WebhookEndpointWithSecret, { description: 'Adds an endpoint for signed webhooks; its secret is in the answer, once (admin only)' })
  createWebhookEndpoint(@Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput, @Ctx() ctx: AppContext): Promise<WebhookEndpointRecord & { secret: string }> {
    return ctx.services.webhooks.createEndpoint(signedIn(ctx), input);
  }

  @Query(() => [WebhookEndpoint], { description: 'Webhook endpoints, enabled first, newest first (admin only)' })
  webhookEndpoints(@Ctx() ctx: AppContext): Promise<WebhookEndpointRecord[]> {
    return ctx.services.webhooks.endpoints(signedIn(ctx));
  }

  @Mutation(() => WebhookEndpoint, { description: 'Stops sending to an endpoint; its pending deliveries end FAILED (admin only)' })
  disableWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: AppContext): Promise<WebhookEndpointRecord> {
    return ctx.services.webhooks.disableEndpoint(signedIn(ctx), id);
  }

  @Query(() => WebhookDeliveryConnection, { description: "An endpoint's deliveries with their attempts, newest first (admin only)" })
  webhookDeliveries(@Args(() => WebhookDeliveriesArgs) args: WebhookDeliveriesArgs, @Ctx() ctx: AppContext): Promise<WebhookDeliveryConnection> {
    return ctx.services.webhooks.deliveries(signedIn(ctx), args.endpointId, args.first, args.after);
  }

  @Mutation(() => WebhookDelivery, { description: 'Sends a delivery again now with a fresh retry schedule and the same webhook-id (admin only)' })
  redeliverWebhook(@Arg('deliveryId', () => ID) deliveryId: string, @Ctx() ctx: AppContext): Promise<WebhookDeliveryRecord> {
    return ctx.services.webhooks.redeliver(signedIn(ctx), deliveryId);
  }

  @FieldResolver(() => String, { description: 'The webhook-id header: the event, the same on every attempt' })
  eventId(@Root() delivery: WebhookDeliveryRecord): string {
    return delivery.eventId;
  }

  @FieldResolver(() => String, { description: 'The event type, e.g. order.paid' })
  type(@Root() delivery: WebhookDeliveryRecord): string {
    return delivery.type;
  }

  @FieldResolver(() => ID)
  endpointId(@Root() delivery: WebhookDeliveryRecord): string {
    return delivery.endpointId;
  }

  @FieldResolver(() => String, { description: 'The JSON body every attempt sends' })
  payload(@Root() delivery: WebhookDeliveryRecord): string {
    return delivery.payload;
  }

  @FieldResolver(() => [WebhookAttempt], { description: 'Its attempts, oldest first (the last 50)' })
  attemptLog(@Root() delivery: WebhookDeliveryRecord, @Ctx() ctx: AppContext): Promise<WebhookAttemptRecord[]> {
    return ctx.loaders.webhookAttempts.load(delivery.id);
  }
}
