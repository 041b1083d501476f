import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Request durations: 1 ms to 10 s (Alipay's gateway calls sit in the upper buckets). */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The service's Prometheus metrics, on prom-client: one registry per app (tests run several apps in a process),
 * the default process and Node.js metrics, and the service's own counters, gauges and histograms, created on
 * first use by name. Label values must come from a bounded set chosen by the code (a route, a verdict, a schema
 * field), never from what a caller sent, so that no request can make the registry grow.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly loopDelay: IntervalHistogram;
  private readonly startedAt = Date.now();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
    const h = this.loopDelay;
    const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
    // The benchmark reads these (its own window, reset with ?reset=eventloop); prom-client's nodejs_eventloop_lag_*
    // cover the whole process life.
    new Gauge({
      name: 'nodejs_eventloop_delay_ms',
      help: 'Event-loop delay percentiles since start or the last reset, in milliseconds',
      labelNames: ['quantile'],
      registers: [this.registry],
      collect() {
        for (const q of [50, 90, 99]) this.set({ quantile: String(q / 100) }, ms(h.percentile(q)));
      },
    });
    this.gauge('nodejs_eventloop_delay_ms_max', 'Largest event-loop delay since start or the last reset, in milliseconds', () => ms(h.max));
    this.gauge('process_id', 'The process answering (with WORKERS > 1, each worker has its own metrics)', () => process.pid);
    this.gauge('process_uptime_seconds', 'Seconds since the process started', () => (Date.now() - this.startedAt) / 1000);
  }

  /** Adds to a counter; its label names are fixed by its first use. */
  inc(name: string, help: string, labels: Record<string, string> = {}, by = 1): void {
    let counter = this.counters.get(name);
    if (!counter) {
      counter = new Counter({ name, help, labelNames: Object.keys(labels), registers: [this.registry] });
      this.counters.set(name, counter);
    }
    counter.inc(labels, by);
  }

  /** Records one duration (in seconds) in a histogram; its label names are fixed by its first use. */
  observe(name: string, help: string, labels: Record<string, string>, seconds: number, buckets = DURATION_BUCKETS): void {
    let histogram = this.histograms.get(name);
    if (!histogram) {
      histogram = new Histogram({ name, help, labelNames: Object.keys(labels), buckets, registers: [this.registry] });
      this.histograms.set(name, histogram);
    }
    histogram.observe(labels, seconds);
  }

  /** A value read at scrape time. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Clears the event-loop delay histogram (e.g. at the start of a benchmark window). */
  resetLoopDelay(): void {
    this.loopDelay.reset();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.loopDelay.disable();
    this.registry.clear();
  }
}
