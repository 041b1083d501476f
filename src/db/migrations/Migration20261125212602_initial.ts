import { Migration } from '@mikro-orm/migrations';

export class Migration20261125212602_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "users" ("id" text not null, "created_at" timestamptz(3) not null, constraint "users_pkey" primary key ("id"));`);

    this.addSql(`create table "orders" ("id" uuid not null, "order_no" varchar(64) not null, "user_id" text not null, "subject" varchar(256) not null, "body" varchar(128) null, "amount" numeric(12,2) not null, "status" text check ("status" in ('WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED')) not null default 'WAIT_BUYER_PAY', "trade_no" varchar(64) null, "buyer_id" varchar(64) null, "paid_at" timestamptz(3) null, "closed_at" timestamptz(3) null, "refunded_amount" numeric(12,2) not null default 0, "expires_at" timestamptz(3) not null, "idempotency_key" varchar(64) null, "created_at" timestamptz(3) not null, "updated_at" timestamptz(3) not null, constraint "orders_pkey" primary key ("id"), constraint orders_refunded_range check (refunded_amount >= 0 and refunded_amount <= amount), constraint orders_amount_range check (amount >= 0.01 and amount <= 100000000.00));`);
    this.addSql(`alter table "orders" add constraint "orders_order_no_unique" unique ("order_no");`);
    this.addSql(`create index "orders_status_expires_idx" on "orders" ("status", "expires_at");`);
    this.addSql(`create index "orders_user_created_idx" on "orders" ("user_id", "created_at", "id");`);
    this.addSql(`alter table "orders" add constraint "orders_user_idempotency_key_unique" unique ("user_id", "idempotency_key");`);

    this.addSql(`create table "order_events" ("id" bigserial primary key, "order_id" uuid not null, "type" text check ("type" in ('CREATED', 'STATUS_CHANGED', 'TRANSITION_REFUSED', 'CALLBACK')) not null, "from_status" text check ("from_status" in ('WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED')) null, "to_status" text check ("to_status" in ('WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED')) null, "source" text check ("source" in ('API', 'NOTIFY', 'RETURN', 'SYNC', 'JOB', 'ADMIN')) not null, "note" text null, "created_at" timestamptz(3) not null);`);
    this.addSql(`create index "order_events_order_idx" on "order_events" ("order_id", "created_at");`);

    this.addSql(`create table "callback_logs" ("id" bigserial primary key, "kind" text check ("kind" in ('NOTIFY', 'RETURN')) not null, "raw" bytea not null, "verdict" text check ("verdict" in ('APPLIED', 'DUPLICATE', 'IGNORED', 'REFUSED', 'REJECTED', 'ERROR')) not null, "reason" text null, "signature_valid" boolean not null default false, "order_id" uuid null, "notify_id" varchar(128) null, "out_trade_no" varchar(128) null, "trade_status" varchar(64) null, "remote_address" varchar(64) null, "received_at" timestamptz(3) not null);`);
    this.addSql(`create index "callback_logs_notify_id_idx" on "callback_logs" ("notify_id");`);
    this.addSql(`create index "callback_logs_order_idx" on "callback_logs" ("order_id", "received_at");`);

    this.addSql(`alter table "orders" add constraint "orders_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "order_events" add constraint "order_events_order_id_foreign" foreign key ("order_id") references "orders" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "callback_logs" add constraint "callback_logs_order_id_foreign" foreign key ("order_id") references "orders" ("id") on update cascade on delete set null;`);
  }

}
