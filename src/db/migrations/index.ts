import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261125212602_initial } from './Migration20261125212602_initial';
import { Migration20261125214613_local_alipay_and_refunds } from './Migration20261125214613_local_alipay_and_refunds';
import { Migration20261125222056_order_watchers } from './Migration20261125222056_order_watchers';
import { Migration20261125223500_partial_idempotency_index } from './Migration20261125223500_partial_idempotency_index';
import { Migration20261202114852_payment_exceptions_and_close_until } from './Migration20261202114852_payment_exceptions_and_close_until';
import { Migration20261202122901_bounded_callback_logs } from './Migration20261202122901_bounded_callback_logs';
import { Migration20261202124144_sandbox_app_url_prefixes } from './Migration20261202124144_sandbox_app_url_prefixes';
import { Migration20261202135637_admin_view_indexes } from './Migration20261202135637_admin_view_indexes';
import { Migration20261202141330_merchant_webhooks } from './Migration20261202141330_merchant_webhooks';
import { Migration20261202151111_reconciliation } from './Migration20261202151111_reconciliation';
import { Migration20261203104500_hot_path_value_domains } from './Migration20261203104500_hot_path_value_domains';

/** Every migration, in order. Listed explicitly so the tsc build and the TypeScript sources find the same ones. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261125212602_initial', class: Migration20261125212602_initial },
  { name: 'Migration20261125214613_local_alipay_and_refunds', class: Migration20261125214613_local_alipay_and_refunds },
  { name: 'Migration20261125222056_order_watchers', class: Migration20261125222056_order_watchers },
  { name: 'Migration20261125223500_partial_idempotency_index', class: Migration20261125223500_partial_idempotency_index },
  { name: 'Migration20261202114852_payment_exceptions_and_close_until', class: Migration20261202114852_payment_exceptions_and_close_until },
  { name: 'Migration20261202122901_bounded_callback_logs', class: Migration20261202122901_bounded_callback_logs },
  { name: 'Migration20261202124144_sandbox_app_url_prefixes', class: Migration20261202124144_sandbox_app_url_prefixes },
  { name: 'Migration20261202135637_admin_view_indexes', class: Migration20261202135637_admin_view_indexes },
  { name: 'Migration20261202141330_merchant_webhooks', class: Migration20261202141330_merchant_webhooks },
  { name: 'Migration20261202151111_reconciliation', class: Migration20261202151111_reconciliation },
  { name: 'Migration20261203104500_hot_path_value_domains', class: Migration20261203104500_hot_path_value_domains },
];
