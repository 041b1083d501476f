import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Prometheus text-format metrics without a dependency: labelled counters, plus process gauges read at scrape time
 * (event-loop delay percentiles, RSS, CPU). Counters are plain in-memory numbers; each instance exposes its own.
 */
export class Metrics {
  private readonly counters = new Map<string, { help: string; values: Map<string, number> }>();
  private readonly gauges = new Map<string, { help: string; read: () => number }>();
  private readonly loopDelay: IntervalHistogram;
  private readonly startedAt = Date.now();

  constructor() {
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
  }

  /** Adds to a counter; labels are rendered in the given order. */
  inc(name: string, help: string, labels: Record<string, string> = {}, by = 1): void {
    let counter = this.counters.get(name);
    if (!counter) {
      counter = { help, values: new Map() };
      this.counters.set(name, counter);
    }
    const key = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
      .join(',');
    counter.values.set(key, (counter.values.get(key) ?? 0) + by);
  }

  /** A value read at scrape time. */
  gauge(name: string, help: string, read: () => number): void {
    this.gauges.set(name, { help, read });
  }

  /** Clears the event-loop delay histogram (e.g. at the start of a benchmark window). */
  resetLoopDelay(): void {
    this.loopDelay.reset();
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, { help, values }] of this.counters) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [labels, value] of values) lines.push(`${name}${labels ? `{${labels}}` : ''} ${value}`);
    }
    for (const [name, { help, read }] of this.gauges) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${read()}`);
    }
    const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
    const h = this.loopDelay;
    lines.push('# HELP nodejs_eventloop_delay_ms Event-loop delay since start or the last reset, in milliseconds');
    lines.push('# TYPE nodejs_eventloop_delay_ms summary');
    for (const q of [50, 90, 99]) lines.push(`nodejs_eventloop_delay_ms{quantile="${q / 100}"} ${ms(h.percentile(q))}`);
    lines.push(`nodejs_eventloop_delay_ms_max ${ms(h.max)}`);
    const usage = process.cpuUsage();
    lines.push('# HELP process_cpu_seconds_total User and system CPU time spent');
    lines.push('# TYPE process_cpu_seconds_total counter');
    lines.push(`process_cpu_seconds_total ${(usage.user + usage.system) / 1e6}`);
    lines.push('# HELP process_resident_memory_bytes Resident memory size');
    lines.push('# TYPE process_resident_memory_bytes gauge');
    lines.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    lines.push('# HELP process_id The process answering (with WORKERS > 1, each worker has its own metrics)');
    lines.push('# TYPE process_id gauge');
    lines.push(`process_id ${process.pid}`);
    lines.push('# HELP process_uptime_seconds Seconds since the process started');
    lines.push('# TYPE process_uptime_seconds gauge');
    lines.push(`process_uptime_seconds ${(Date.now() - this.startedAt) / 1000}`);
    return `${lines.join('\n')}\n`;
  }

  close(): void {
    this.loopDelay.disable();
  }
}
