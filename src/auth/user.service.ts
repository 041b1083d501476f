import type { ServiceContext } from '../common/context';
import { User } from './user.entity';

export class UserService {
  /** The caller's user row, created on first sight. */
  async me(ctx: ServiceContext): Promise<User> {
    const em = ctx.em;
    await em.createQueryBuilder(User).insert({ id: ctx.user.id, createdAt: new Date() }).onConflict('id').ignore().execute();
    return em.findOneOrFail(User, { id: ctx.user.id });
  }
}
