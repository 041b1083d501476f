import { Migration } from '@mikro-orm/migrations';

export class Migration20261202141330_merchant_webhooks extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "webhook_endpoints" ("id" uuid not null, "url" text not null, "secret" text not null, "events" text[] null, "enabled" boolean not null default true, "from_env" boolean not null default false, "created_at" timestamptz(3) not null, "disabled_at" timestamptz(3) null, constraint "webhook_endpoints_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_endpoints_created_idx" on "webhook_endpoints" ("created_at", "id");`);

    this.addSql(`create table "webhook_events" ("id" varchar(64) not null, "seq" bigserial, "type" varchar(32) not null, "order_id" uuid null, "body" text not null, "created_at" timestamptz(3) not null, constraint "webhook_events_pkey" primary key ("id"));`);
    this.addSql(`alter table "webhook_events" add constraint "webhook_events_seq_unique" unique ("seq");`);
    this.addSql(`create index "webhook_events_order_idx" on "webhook_events" ("order_id", "seq");`);

    this.addSql(`create table "webhook_deliveries" ("id" uuid not null, "event_id" varchar(64) not null, "endpoint_id" uuid not null, "order_id" uuid null, "seq" bigint not null, "status" text check ("status" in ('PENDING', 'DELIVERED', 'FAILED')) not null default 'PENDING', "attempts" int not null default 0, "next_attempt_at" timestamptz(3) not null, "leased_until" timestamptz(3) null, "schedule_from" timestamptz(3) not null, "last_attempt_at" timestamptz(3) null, "last_status_code" int null, "last_error" text null, "delivered_at" timestamptz(3) null, "created_at" timestamptz(3) not null, "updated_at" timestamptz(3) not null, constraint "webhook_deliveries_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_deliveries_endpoint_created_idx" on "webhook_deliveries" ("endpoint_id", "created_at", "id");`);
    this.addSql(`create index "webhook_deliveries_order_idx" on "webhook_deliveries" ("endpoint_id", "order_id", "seq");`);
    this.addSql(`create index "webhook_deliveries_due_idx" on "webhook_deliveries" ("next_attempt_at") where "status" = 'PENDING';`);

    this.addSql(`create table "webhook_attempts" ("id" bigserial primary key, "delivery_id" uuid not null, "attempt" int not null, "started_at" timestamptz(3) not null, "duration_ms" int not null, "status_code" int null, "error" text null, "response_excerpt" text null);`);
    this.addSql(`create index "webhook_attempts_delivery_idx" on "webhook_attempts" ("delivery_id", "id");`);

    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_event_id_foreign" foreign key ("event_id") references "webhook_events" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_endpoint_id_foreign" foreign key ("endpoint_id") references "webhook_endpoints" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "webhook_attempts" add constraint "webhook_attempts_delivery_id_foreign" foreign key ("delivery_id") references "webhook_deliveries" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "webhook_deliveries" drop constraint "webhook_deliveries_endpoint_id_foreign";`);

    this.addSql(`alter table "webhook_deliveries" drop constraint "webhook_deliveries_event_id_foreign";`);

    this.addSql(`alter table "webhook_attempts" drop constraint "webhook_attempts_delivery_id_foreign";`);

    this.addSql(`drop table if exists "webhook_endpoints" cascade;`);

    this.addSql(`drop table if exists "webhook_events" cascade;`);

    this.addSql(`drop table if exists "webhook_deliveries" cascade;`);

    this.addSql(`drop table if exists "webhook_attempts" cascade;`);
  }

}
