import { Migration } from '@mikro-orm/migrations';

/** The URL prefixes a local-Alipay app's notify/return/quit URLs must start with (no server-side request forgery). */
export class Migration20261202124144_sandbox_app_url_prefixes extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "sandbox_apps" add column "url_prefixes" text[] null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "sandbox_apps" drop column "url_prefixes";`);
  }

}
