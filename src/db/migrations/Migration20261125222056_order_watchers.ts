import { Migration } from '@mikro-orm/migrations';

export class Migration20261125222056_order_watchers extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "order_watchers" ("order_id" uuid not null, "instance_id" varchar(64) not null, "since" timestamptz(3) not null, constraint "order_watchers_pkey" primary key ("order_id", "instance_id"));`);
    this.addSql(`create index "order_watchers_since_idx" on "order_watchers" ("since");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "order_watchers" cascade;`);
  }

}
