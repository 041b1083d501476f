import PgBoss from 'pg-boss';
import type { Logger } from '../common/logger';
import { JOBS_SETUP_LOCK_KEY, withAdvisoryLock } from '../db/orm';

export const MAINTENANCE_QUEUE = 'orders-maintenance';

/**
 * Background work through pg-boss, so it runs once per minute across all instances: close expired orders
 * (at Alipay, then here), ask Alipay about unpaid orders that got no notify, retry pending refunds.
 */
export class Jobs {
  private boss: PgBoss | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly work: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const boss = new PgBoss({ connectionString: this.databaseUrl, application_name: 'jobs', max: 2 });
    // pg-boss reports its own database errors (a dropped connection, an outage) here, never as a crash.
    boss.on('error', (err) => this.logger.warn('job queue error', { error: err }));
    try {
      // Instances starting at once would deadlock creating the queue's table: one sets it up at a time.
      await withAdvisoryLock(this.databaseUrl, JOBS_SETUP_LOCK_KEY, async () => {
        await boss.start();
        await boss.createQueue(MAINTENANCE_QUEUE, { name: MAINTENANCE_QUEUE, policy: 'singleton' });
        await boss.schedule(MAINTENANCE_QUEUE, '* * * * *');
      });
      await boss.work(MAINTENANCE_QUEUE, async () => {
        await this.work();
      });
    } catch (err) {
      await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
      throw err;
    }
    this.boss = boss;
  }

  /** Queues a maintenance run now (besides the minute schedule). */
  async trigger(): Promise<void> {
    await this.boss?.send(MAINTENANCE_QUEUE, {});
  }

  async stop(): Promise<void> {
    await this.boss?.stop({ graceful: true, wait: true, timeout: 10_000 });
    this.boss = null;
  }
}
