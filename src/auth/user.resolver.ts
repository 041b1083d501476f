import { Ctx, FieldResolver, Query, Resolver } from 'type-graphql';
import { signedIn, type AppContext } from '../graphql/context';
import { User } from './user.entity';

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, { description: 'The signed-in user' })
  me(@Ctx() ctx: AppContext): Promise<User> {
    return ctx.services.users.me(signedIn(ctx));
  }

  @FieldResolver(() => [String], { description: "The caller's roles, from their token" })
  roles(@Ctx() ctx: AppContext): string[] {
    return ctx.user?.roles ?? [];
  }
}
