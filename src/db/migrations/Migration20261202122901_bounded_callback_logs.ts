import { Migration } from '@mikro-orm/migrations';

/** Unverified callbacks keep a bounded excerpt with the whole body's length and SHA-256; their retention index. */
export class Migration20261202122901_bounded_callback_logs extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "callback_logs" add column "raw_length" int null, add column "raw_sha256" varchar(64) null;`);
    this.addSql(`create index "callback_logs_unverified_received_idx" on "callback_logs" ("received_at") where not "signature_valid";`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "callback_logs_unverified_received_idx";`);
    this.addSql(`alter table "callback_logs" drop column "raw_length", drop column "raw_sha256";`);
  }

}
