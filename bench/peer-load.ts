/**
 * The load driver of `npm run bench -- --peer seed`, one workload in a process of its own, the same for the project
 * and for the reference: autocannon (the project's, 9.0.0) with the same options as bench/load.ts (connections,
 * keep-alive, no pipelining, autocannon's default 10 s timeout), a warm-up, a drain (until a probe request is
 * answered in < 50 ms: the server has finished what the warm-up left queued), then the measured window.
 *
 * Reads its spec (JSON) from argv[2]. Every request takes the next line of the data file — JSON with any of
 * `method`, `path`, `headers`, `body` — from one counter shared by all connections, so concurrent requests use
 * different items (a distinct token, order or pre-signed notify each). Prints `MEASURING` when the window starts
 * and the result as one JSON line at the end; writes the indices of the items answered well to `answeredFile`.
 */
import fs from 'node:fs';
import { runWindow } from './autocannon-window';

export interface PeerLoadSpec {
  url: string;
  /** Defaults for items that carry none. */
  method: 'GET' | 'POST';
  path: string;
  contentType?: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  dataFile: string;
  /** A good answer: GraphQL data without `errors`, the body `success`, or a 2xx whose body includes the text. */
  expect: 'graphql' | 'success' | { includes: string };
  answeredFile: string;
}

export interface PeerLoadResult {
  /** Responses in the window (any status), and the 2xx among them. */
  requests: number;
  ok: number;
  /** 2xx responses per second of the actual window (autocannon ends on its next 1-s tick). */
  rate: number;
  durationSeconds: number;
  latency: { p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  badAnswers: number;
  /** Items taken so far (warm-up included), and in the window. */
  used: number;
  usedInWindow: number;
  drainMs: number;
  /** This process's own CPU over the window (the load generator's share of the machine). */
  loadCpuMs: number;
}

interface Item {
  method?: 'GET' | 'POST';
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}

async function drain(url: string): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < 30_000) {
    const t = Date.now();
    try {
      await (await fetch(`${url}/__drain_probe`, { headers: { connection: 'close' } })).arrayBuffer();
    } catch {
      // retry
    }
    if (Date.now() - t < 50) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - started;
}

async function main(): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as PeerLoadSpec;
  const items = fs
    .readFileSync(spec.dataFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Item);
  if (items.length === 0) throw new Error(`no requests in ${spec.dataFile}`);
  const good = (status: number, body: string): boolean => {
    if (spec.expect === 'success') return body === 'success';
    if (status < 200 || status >= 300) return false;
    if (spec.expect === 'graphql') return !body.includes('"errors"');
    return body.includes(spec.expect.includes);
  };
  let next = 0;
  let bad = 0;
  const answered: number[] = [];
  const requests = [
    {
      method: spec.method,
      path: spec.path,
      setupRequest: (req: { method?: string; path?: string; headers?: Record<string, string>; body?: string }, context: { index?: number }) => {
        const index = next++ % items.length;
        const item = items[index];
        context.index = index;
        req.method = item.method ?? spec.method;
        req.path = item.path ?? spec.path;
        req.headers = { ...(spec.contentType ? { 'content-type': spec.contentType } : {}), ...item.headers };
        req.body = item.body;
        return req;
      },
      onResponse: (status: number, body: string, context: { index?: number }) => {
        if (!good(status, body)) bad++;
        else if (context.index !== undefined) answered.push(context.index);
      },
    },
  ];
  const run = (seconds: number, onTick?: (n: number) => void) => runWindow({ url: spec.url, connections: spec.connections, requests }, seconds, onTick);

  if (spec.warmupSeconds > 0) await run(spec.warmupSeconds);
  const drainMs = await drain(spec.url);
  process.stdout.write('MEASURING\n');
  const started = next;
  bad = 0; // `answered` keeps the warm-up's: those notifies were applied too
  const cpu0 = process.cpuUsage();
  const result = await run(spec.seconds, (n) => process.stderr.write(`    ${n} req/s\n`));
  const cpu = process.cpuUsage(cpu0);
  fs.writeFileSync(spec.answeredFile, JSON.stringify(answered));
  const out: PeerLoadResult = {
    requests: result.requests.total,
    ok: result['2xx'],
    rate: result['2xx'] / (result.duration || spec.seconds),
    durationSeconds: result.duration,
    latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    badAnswers: bad,
    used: next,
    usedInWindow: next - started,
    drainMs,
    loadCpuMs: (cpu.user + cpu.system) / 1000,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  process.stderr.write(`load failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
