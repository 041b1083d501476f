import { Field, Int, ObjectType } from 'type-graphql';
import { Order } from './order.entity';
import type { OrderRecord } from './order.row';

@ObjectType('PageInfo')
export class PageInfo {
  @Field()
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

@ObjectType('OrderEdge')
export class OrderEdge {
  @Field()
  cursor!: string;

  @Field(() => Order)
  node!: OrderRecord;
}

@ObjectType('OrderConnection', { description: 'A page of orders, newest first' })
export class OrderConnection {
  @Field(() => [OrderEdge])
  edges!: OrderEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType('AdminOrderConnection', { description: 'A page of every order matching a filter, newest first' })
export class AdminOrderConnection {
  @Field(() => [OrderEdge])
  edges!: OrderEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int, { description: 'How many orders match the filter in all (counted only when asked for)' })
  totalCount!: Promise<number>;
}
