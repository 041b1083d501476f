import { Migration } from '@mikro-orm/migrations';

export class Migration20261125214613_local_alipay_and_refunds extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "sandbox_apps" ("app_id" varchar(32) not null, "public_key_pem" text not null, "sign_type" varchar(8) not null default 'RSA2', "app_cert_sn" varchar(64) null, "created_at" timestamptz(3) not null, constraint "sandbox_apps_pkey" primary key ("app_id"));`);

    this.addSql(`create table "sandbox_scenarios" ("scope" varchar(128) not null, "scenario" text check ("scenario" in ('NORMAL', 'DROP_NOTIFY', 'DUPLICATE_NOTIFY', 'OUT_OF_ORDER_NOTIFY', 'DELAY_NOTIFY', 'BUSY', 'CLOSE_ON_TIMEOUT')) not null, "delay_ms" int null, "remaining" int null, "created_at" timestamptz(3) not null, constraint "sandbox_scenarios_pkey" primary key ("scope"));`);

    this.addSql(`create table "sandbox_trades" ("id" uuid not null, "app_id" varchar(32) not null, "out_trade_no" varchar(64) not null, "trade_no" varchar(64) not null, "cashier_token" varchar(64) not null, "status" text check ("status" in ('WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED')) not null default 'WAIT_BUYER_PAY', "total_amount" numeric(12,2) not null, "refunded_amount" numeric(12,2) not null default 0, "subject" varchar(256) not null, "body" varchar(128) null, "method" varchar(64) not null, "notify_url" text null, "return_url" text null, "quit_url" text null, "time_expire" timestamptz(3) null, "buyer_id" varchar(32) null, "created_at" timestamptz(3) not null, "paid_at" timestamptz(3) null, "closed_at" timestamptz(3) null, constraint "sandbox_trades_pkey" primary key ("id"));`);
    this.addSql(`alter table "sandbox_trades" add constraint "sandbox_trades_trade_no_unique" unique ("trade_no");`);
    this.addSql(`alter table "sandbox_trades" add constraint "sandbox_trades_cashier_token_unique" unique ("cashier_token");`);
    this.addSql(`alter table "sandbox_trades" add constraint "sandbox_trades_app_out_trade_no_unique" unique ("app_id", "out_trade_no");`);

    this.addSql(`create table "sandbox_refunds" ("id" uuid not null, "trade_id" uuid not null, "out_request_no" varchar(64) not null, "amount" numeric(12,2) not null, "reason" varchar(256) null, "created_at" timestamptz(3) not null, constraint "sandbox_refunds_pkey" primary key ("id"));`);
    this.addSql(`alter table "sandbox_refunds" add constraint "sandbox_refunds_trade_request_unique" unique ("trade_id", "out_request_no");`);

    this.addSql(`create table "sandbox_notifications" ("id" bigserial primary key, "trade_id" uuid not null, "notify_url" text not null, "fields" jsonb not null, "status" text check ("status" in ('PENDING', 'DELIVERED', 'FAILED', 'DROPPED')) not null default 'PENDING', "attempts" int not null default 0, "next_attempt_at" timestamptz(3) not null, "last_reply" text null, "last_attempt_at" timestamptz(3) null, "created_at" timestamptz(3) not null);`);
    this.addSql(`create index "sandbox_notifications_due_idx" on "sandbox_notifications" ("status", "next_attempt_at");`);

    this.addSql(`create table "refunds" ("id" uuid not null, "order_id" uuid not null, "out_request_no" varchar(64) not null, "amount" numeric(12,2) not null, "reason" varchar(256) null, "status" text check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED')) not null default 'PENDING', "failure_reason" text null, "requested_by" varchar(128) not null, "idempotency_key" varchar(64) null, "created_at" timestamptz(3) not null, "updated_at" timestamptz(3) not null, constraint "refunds_pkey" primary key ("id"));`);
    this.addSql(`alter table "refunds" add constraint "refunds_out_request_no_unique" unique ("out_request_no");`);
    this.addSql(`create index "refunds_pending_idx" on "refunds" ("status", "updated_at");`);
    this.addSql(`create index "refunds_order_idx" on "refunds" ("order_id", "created_at");`);
    this.addSql(`alter table "refunds" add constraint "refunds_order_idempotency_key_unique" unique ("order_id", "idempotency_key");`);

    this.addSql(`alter table "sandbox_refunds" add constraint "sandbox_refunds_trade_id_foreign" foreign key ("trade_id") references "sandbox_trades" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "sandbox_notifications" add constraint "sandbox_notifications_trade_id_foreign" foreign key ("trade_id") references "sandbox_trades" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "refunds" add constraint "refunds_order_id_foreign" foreign key ("order_id") references "orders" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "orders" add column "checked_at" timestamptz(3) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "sandbox_refunds" drop constraint "sandbox_refunds_trade_id_foreign";`);

    this.addSql(`alter table "sandbox_notifications" drop constraint "sandbox_notifications_trade_id_foreign";`);

    this.addSql(`drop table if exists "sandbox_apps" cascade;`);

    this.addSql(`drop table if exists "sandbox_scenarios" cascade;`);

    this.addSql(`drop table if exists "sandbox_trades" cascade;`);

    this.addSql(`drop table if exists "sandbox_refunds" cascade;`);

    this.addSql(`drop table if exists "sandbox_notifications" cascade;`);

    this.addSql(`drop table if exists "refunds" cascade;`);

    this.addSql(`alter table "orders" drop column "checked_at";`);
  }

}
