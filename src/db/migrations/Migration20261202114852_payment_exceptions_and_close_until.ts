import { Migration } from '@mikro-orm/migrations';

/** Payment exceptions (verified payments an order could not take), and closes still to repeat at Alipay. */
export class Migration20261202114852_payment_exceptions_and_close_until extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "payment_exceptions" ("id" uuid not null, "order_id" uuid not null, "trade_no" varchar(64) not null, "amount" numeric(12,2) not null, "kind" text check ("kind" in ('PAID_AFTER_CLOSE', 'PAID_TWICE')) not null, "reason" text not null, "source" text check ("source" in ('API', 'NOTIFY', 'RETURN', 'SYNC', 'JOB', 'ADMIN')) not null, "status" text check ("status" in ('OPEN', 'REFUND_PENDING', 'REFUNDED', 'REFUND_FAILED', 'KEPT')) not null default 'OPEN', "out_request_no" varchar(64) not null, "failure_reason" text null, "resolved_by" varchar(128) null, "resolved_at" timestamptz(3) null, "created_at" timestamptz(3) not null, "updated_at" timestamptz(3) not null, constraint "payment_exceptions_pkey" primary key ("id"));`);
    this.addSql(`alter table "payment_exceptions" add constraint "payment_exceptions_out_request_no_unique" unique ("out_request_no");`);
    this.addSql(`create index "payment_exceptions_created_idx" on "payment_exceptions" ("created_at", "id");`);
    this.addSql(`create index "payment_exceptions_status_idx" on "payment_exceptions" ("status", "updated_at");`);
    this.addSql(`alter table "payment_exceptions" add constraint "payment_exceptions_order_trade_unique" unique ("order_id", "trade_no");`);

    this.addSql(`alter table "payment_exceptions" add constraint "payment_exceptions_order_id_foreign" foreign key ("order_id") references "orders" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "orders" add column "alipay_close_until" timestamptz(3) null;`);
    this.addSql(`create index "orders_alipay_close_until_idx" on "orders" ("alipay_close_until") where "alipay_close_until" is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "payment_exceptions" cascade;`);

    this.addSql(`drop index "orders_alipay_close_until_idx";`);
    this.addSql(`alter table "orders" drop column "alipay_close_until";`);
  }

}
