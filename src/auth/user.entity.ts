import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';

/** A signed-in user of a client app, created the first time their token is seen. `id` is the token's `sub`. */
@Entity({ tableName: 'users' })
@ObjectType('User', { description: 'The signed-in user' })
export class User {
  [OptionalProps]?: 'createdAt';

  @PrimaryKey({ type: 'text' })
  @Field(() => ID)
  id!: string;

  @Property({ type: 'datetime', length: 3 })
  @Field(() => Date)
  createdAt: Date = new Date();
}
