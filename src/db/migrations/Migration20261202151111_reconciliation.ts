import { Migration } from '@mikro-orm/migrations';

export class Migration20261202151111_reconciliation extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "reconciliation_reports" ("id" uuid not null, "bill_date" varchar(10) not null, "status" text check ("status" in ('RUNNING', 'COMPLETED', 'NO_STATEMENT', 'FAILED')) not null, "trigger" varchar(16) not null, "statement_rows" int not null default 0, "matched" int not null default 0, "missing_here" int not null default 0, "missing_at_alipay" int not null default 0, "amount_mismatches" int not null default 0, "error" text null, "created_at" timestamptz(3) not null, "finished_at" timestamptz(3) null, constraint "reconciliation_reports_pkey" primary key ("id"));`);
    this.addSql(`create index "reconciliation_reports_date_idx" on "reconciliation_reports" ("bill_date", "created_at");`);
    this.addSql(`create index "reconciliation_reports_created_idx" on "reconciliation_reports" ("created_at", "id");`);

    this.addSql(`create table "reconciliation_lines" ("id" bigserial primary key, "report_id" uuid not null, "kind" text check ("kind" in ('MISSING_HERE', 'MISSING_AT_ALIPAY', 'AMOUNT_MISMATCH')) not null, "entry" varchar(16) not null, "out_trade_no" varchar(64) null, "trade_no" varchar(64) null, "refund_request_no" varchar(64) null, "ours_amount" varchar(20) null, "alipay_amount" varchar(20) null, "detail" text not null, "action" text null);`);
    this.addSql(`create index "reconciliation_lines_report_idx" on "reconciliation_lines" ("report_id", "id");`);

    this.addSql(`alter table "reconciliation_lines" add constraint "reconciliation_lines_report_id_foreign" foreign key ("report_id") references "reconciliation_reports" ("id") on update cascade on delete cascade;`);

    this.addSql(`create index "orders_paid_idx" on "orders" ("paid_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "reconciliation_lines" drop constraint "reconciliation_lines_report_id_foreign";`);

    this.addSql(`drop table if exists "reconciliation_reports" cascade;`);

    this.addSql(`drop table if exists "reconciliation_lines" cascade;`);

    this.addSql(`drop index "orders_paid_idx";`);
  }

}
