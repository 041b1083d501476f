import type { EntityManager } from '@mikro-orm/postgresql';
import type { AuthUser } from '../auth/token.service';

/** What every service method takes first: who is asking, and the request's own EntityManager fork. */
export interface ServiceContext {
  user: AuthUser;
  em: EntityManager;
}
