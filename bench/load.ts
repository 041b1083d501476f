/**
 * One workload, in a process of its own: autocannon against the server, a warm-up and then the measured window.
 * Reads its spec (JSON) from argv[2]; every request takes the next line of the data file (JSON: headers, body),
 * so each one can carry its own token or its own pre-signed notify. Prints `MEASURING` when the window starts and
 * the result as one JSON line at the end.
 */
import fs from 'node:fs';
import { runWindow } from './autocannon-window';

interface Spec {
  url: string;
  path: string;
  method: 'POST' | 'GET';
  connections: number;
  warmupSeconds: number;
  seconds: number;
  dataFile: string;
  contentType: string;
  /** What a good answer looks like: GraphQL data without `errors`, or the body `success`. */
  expect: 'graphql' | 'success';
  /** Where to write the indices of the items answered well (to check the database afterwards). */
  answeredFile: string;
}

interface Item {
  headers?: Record<string, string>;
  body: string;
}

async function main(): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as Spec;
  const items = fs
    .readFileSync(spec.dataFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Item);
  let next = 0;
  let bad = 0;
  const answered: number[] = [];
  const requests = [
    {
      method: spec.method,
      path: spec.path,
      setupRequest: (req: { headers?: Record<string, string>; body?: string }, context: { index?: number }) => {
        context.index = next % items.length;
        const item = items[next++ % items.length];
        req.headers = { 'content-type': spec.contentType, ...item.headers };
        req.body = item.body;
        return req;
      },
      onResponse: (status: number, body: string, context: { index?: number }) => {
        const good = spec.expect === 'success' ? body === 'success' : status === 200 && !body.includes('"errors"');
        if (!good) bad++;
        else if (context.index !== undefined) answered.push(context.index);
      },
    },
  ];
  const run = (seconds: number, onTick?: (n: number) => void) => runWindow({ url: spec.url, connections: spec.connections, requests }, seconds, onTick);

  await run(spec.warmupSeconds);
  process.stdout.write('MEASURING\n');
  const started = next;
  bad = 0;
  const result = await run(spec.seconds, (n) => process.stderr.write(`    ${n} req/s\n`));
  fs.writeFileSync(spec.answeredFile, JSON.stringify(answered));
  process.stdout.write(
    `${JSON.stringify({
      requests: result.requests.total,
      rate: result.requests.total / spec.seconds,
      latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      badAnswers: bad,
      used: next,
      usedInWindow: next - started,
    })}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`load failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
