import { Migration } from '@mikro-orm/migrations';

/** Only orders that carry an idempotency key need the uniqueness check, and an index entry. */
export class Migration20261125223500_partial_idempotency_index extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "orders" drop constraint "orders_user_idempotency_key_unique";`);
    this.addSql(
      `create unique index "orders_user_idempotency_key_unique" on "orders" ("user_id", "idempotency_key") where "idempotency_key" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "orders_user_idempotency_key_unique";`);
    this.addSql(`alter table "orders" add constraint "orders_user_idempotency_key_unique" unique ("user_id", "idempotency_key");`);
  }
}
