import { Migration } from '@mikro-orm/migrations';

/** Indexes for the admin lists (adminOrders, callbacks, refunds): each filter's first page, newest first, from an index. */
export class Migration20261202135637_admin_view_indexes extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "orders_status_created_idx" on "orders" ("status", "created_at", "id");`);
    this.addSql(`create index "orders_created_idx" on "orders" ("created_at", "id");`);

    this.addSql(`create index "refunds_status_created_idx" on "refunds" ("status", "created_at", "id");`);
    this.addSql(`create index "refunds_created_idx" on "refunds" ("created_at", "id");`);

    this.addSql(`create index "callback_logs_verdict_received_idx" on "callback_logs" ("verdict", "received_at", "id");`);
    this.addSql(`create index "callback_logs_kind_received_idx" on "callback_logs" ("kind", "received_at", "id");`);
    this.addSql(`create index "callback_logs_out_trade_no_idx" on "callback_logs" ("out_trade_no", "received_at", "id");`);
    this.addSql(`create index "callback_logs_received_idx" on "callback_logs" ("received_at", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "callback_logs_verdict_received_idx";`);
    this.addSql(`drop index "callback_logs_kind_received_idx";`);
    this.addSql(`drop index "callback_logs_out_trade_no_idx";`);
    this.addSql(`drop index "callback_logs_received_idx";`);

    this.addSql(`drop index "orders_status_created_idx";`);
    this.addSql(`drop index "orders_created_idx";`);

    this.addSql(`drop index "refunds_status_created_idx";`);
    this.addSql(`drop index "refunds_created_idx";`);
  }

}
