/**
 * `npm run bench`: the three hot paths under load, on this machine, in one run (under 3 minutes).
 *
 * 1. An embedded PostgreSQL with durable settings (fsync and synchronous_commit on) and the server in production
 *    mode (NODE_ENV=production), with fresh app and JWT keys and a benchmark "Alipay" key pair.
 * 2. The machine's ceilings: RSA-2048 SHA256 signatures/s on all cores (worker threads), and single-row INSERT
 *    and UPDATE rates of that PostgreSQL through `pg` with 16 clients.
 * 3. Three workloads, each from its own autocannon process, 64 connections, warm-up then a measured window:
 *    createOrder (many users), generatePayLink(PAGE), and POST /alipay/notify with distinct pre-signed notifies.
 * 4. Per workload: rate, latency percentiles, errors, server CPU per request, peak RSS, event-loop delay p99, and
 *    the rate as a fraction of its ceiling. A table, and bench/results/<date>.json.
 *
 * `npm run bench -- --peer seed` (or BENCH_PEER=seed): the same, side by side with the reference in
 * ../shared/bench/seed-tornado (BENCH_SEED_DIR), interleaved over BENCH_ROUNDS rounds: see bench/peer-seed.ts.
 * The helpers below are exported for it; this file runs only as the entry point.
 */
import 'reflect-metadata';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Pool } from 'pg';
import { issueToken } from '../src/auth/token.service';
import { freePort, startEmbeddedPostgres, type RunningPostgres } from '../src/db/embedded-postgres';

export const ROOT = path.resolve(__dirname, '..');

/** A pool for the benchmark's own queries. PostgreSQL is stopped at the end with clients still idle in it: their
 * "terminating connection" errors are expected then, not a crash. */
export function benchPool(config: ConstructorParameters<typeof Pool>[0]): Pool {
  const pool = new Pool(config);
  pool.on('error', () => undefined);
  return pool;
}
export const REGISTER = path.join(ROOT, 'scripts/swc-register.js');
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const APP_ID = '2021000000000001';
const SELLER_ID = '2088000000000001';
const JWT_SECRET = `bench-${randomUUID()}-${randomUUID()}`;
export const CORES = os.availableParallelism();

export const log = (line: string) => process.stdout.write(`${line}\n`);
const pem = (key: ReturnType<typeof generateKeyPairSync>['privateKey']) => key.export({ format: 'pem', type: 'pkcs8' }).toString();

interface WorkloadResult {
  name: string;
  requests: number;
  rate: number;
  latency: { p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  badAnswers: number;
  cpuMsPerRequest: number;
  /** PostgreSQL's CPU per request, and how busy the whole machine was (cores in use) during the window. */
  postgresCpuMsPerRequest: number;
  machineCoresBusy: number;
  peakRssMb: number;
  eventLoopDelayP99Ms: number;
  ceiling: { name: string; rate: number };
  fractionOfCeiling: number;
  postgresDetail?: Awaited<ReturnType<typeof postgresDetail>>;
  used: number;
  /** Indices of the requests answered well (not saved in the report). */
  answered: number[];
}

/** Load processes still running: stopped with the rest on Ctrl-C. */
const loadProcesses = new Set<ChildProcess>();

export function track<T extends ChildProcess>(child: T): T {
  loadProcesses.add(child);
  child.once('exit', () => loadProcesses.delete(child));
  return child;
}

let interrupted = false;

/**
 * On Ctrl-C (SIGINT) or SIGTERM: stops the load processes, then runs `cleanup` (servers, PostgreSQL, scratch
 * files) and exits 130 / 143. Returns the function that removes the handlers.
 */
export function stopOnSignals(cleanup: () => Promise<void>): () => void {
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stdout.write(`\n${signal}: stopping everything the benchmark started\n`);
    for (const child of loadProcesses) child.kill('SIGTERM');
    cleanup()
      .catch((err) => process.stderr.write(`cleanup: ${err instanceof Error ? err.message : err}\n`))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Runs code in `workers` worker threads (each loads TypeScript through the swc hook) and collects their results. */
export function inWorkers<T>(workers: number, code: string, data: (i: number) => unknown): Promise<T[]> {
  return Promise.all(
    Array.from(
      { length: workers },
      (_, i) =>
        new Promise<T>((resolve, reject) => {
          const worker = new Worker(`require(${JSON.stringify(REGISTER)});\n${code}`, { eval: true, workerData: data(i) });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
}

async function rsaCeiling(): Promise<number> {
  const counts = await inWorkers<number>(CORES, `
    const { parentPort, workerData } = require('node:worker_threads');
    const crypto = require('node:crypto');
    const key = crypto.createPrivateKey(workerData.pem);
    const data = Buffer.from('app_id=2021000000000001&biz_content={"out_trade_no":"x","total_amount":"88.88"}&charset=utf-8&method=alipay.trade.page.pay');
    const until = Date.now() + workerData.ms;
    let n = 0;
    while (Date.now() < until) { crypto.sign('sha256', data, key); n++; }
    parentPort.postMessage(n);
  `, () => ({ pem: pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), ms: 3000 }));
  return counts.reduce((a, b) => a + b, 0) / 3;
}

async function pgCeilings(url: string): Promise<{ insert: number; update: number }> {
  const pool = benchPool({ connectionString: url, max: 16 });
  await pool.query('create table if not exists bench_ceiling (id bigserial primary key, v int not null, t text not null)');
  const during = async (ms: number, statement: (client: import('pg').PoolClient) => Promise<unknown>) => {
    let n = 0;
    const until = Date.now() + ms;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        const client = await pool.connect();
        try {
          while (Date.now() < until) {
            await statement(client);
            n++;
          }
        } finally {
          client.release();
        }
      }),
    );
    return n / (ms / 1000);
  };
  const insert = await during(3000, (c) => c.query('insert into bench_ceiling (v, t) values ($1, $2)', [1, 'row']));
  const { rows } = await pool.query<{ max: string }>('select max(id)::text as max from bench_ceiling');
  const max = Number(rows[0].max);
  const update = await during(3000, (c) => c.query('update bench_ceiling set v = v + 1 where id = $1', [1 + Math.floor(Math.random() * max)]));
  await pool.query('drop table bench_ceiling');
  await pool.end();
  return { insert, update };
}

/** The PostgreSQL server's processes (the postmaster and every process it forked) with their user and kernel CPU ms. */
function postgresProcesses(postmaster: number): { pid: number; userMs: number; kernelMs: number }[] {
  const found: { pid: number; userMs: number; kernelMs: number }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      if (pid === postmaster || Number(fields[1]) === postmaster) found.push({ pid, userMs: (Number(fields[11]) * 1000) / 100, kernelMs: (Number(fields[12]) * 1000) / 100 });
    } catch {
      // the process ended meanwhile
    }
  }
  return found;
}

/** CPU time of the PostgreSQL server: the postmaster and every backend it forked. */
export function postgresCpuMs(postmaster: number): number {
  return postgresProcesses(postmaster).reduce((ms, p) => ms + p.userMs + p.kernelMs, 0);
}

/** Busy and total CPU time of the whole machine, from /proc/stat. */
function machineCpuMs(): { busy: number; total: number } {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = cpu[3] + (cpu[4] ?? 0);
  return { busy: ((total - idle) * 1000) / 100, total: (total * 1000) / 100 };
}

function oneProc(pid: number): { cpuMs: number; rssMb: number; ppid: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const rssPages = Number(fields[21]);
  return { cpuMs: (ticks * 1000) / 100, rssMb: (rssPages * 4096) / 1024 / 1024, ppid: Number(fields[1]) };
}

/** The server's CPU (its workers' too) and the largest RSS of any of its processes. */
function procStat(pid: number): { cpuMs: number; rssMb: number } {
  const own = oneProc(pid);
  let cpuMs = own.cpuMs;
  let rssMb = own.rssMb;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
    try {
      const p = oneProc(Number(entry));
      if (p.ppid !== pid) continue;
      cpuMs += p.cpuMs;
      rssMb = Math.max(rssMb, p.rssMb);
    } catch {
      // gone meanwhile
    }
  }
  return { cpuMs, rssMb };
}

/**
 * The event-loop delay p99 of the server's processes (the worst one, with WORKERS > 1): scraped on fresh
 * connections until every process has answered.
 */
/** The benchmark's own metrics token: in production only its holder may reset the event-loop window. */
const METRICS_TOKEN = `bench-${randomBytes(16).toString('hex')}`;

export async function eventLoopP99(base: string, reset: boolean, processes = Number(process.env.BENCH_WORKERS ?? 1)): Promise<number> {
  const seen = new Map<string, number>();
  for (let i = 0; i < processes * 8 && seen.size < processes; i++) {
    const text = await (
      await fetch(`${base}/metrics${reset ? '?reset=eventloop' : ''}`, { headers: { connection: 'close', authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    const pid = /process_id (\d+)/.exec(text)?.[1] ?? '?';
    const m = /nodejs_eventloop_delay_ms\{quantile="0.99"\} ([0-9.e+-]+)/.exec(text);
    if (!seen.has(pid)) seen.set(pid, m ? Number(m[1]) : NaN);
  }
  return Math.max(...seen.values());
}

/** Runs one workload in its own process and measures the server around its window. */
async function workload(
  name: string,
  server: { url: string; pid: number; postmaster: number; dbUrl: string },
  spec: { path: string; dataFile: string; contentType: string; expect: 'graphql' | 'success' },
  ceiling: { name: string; rate: number },
): Promise<WorkloadResult> {
  log(`\n▶ ${name}: ${WARMUP} s warm-up, then ${SECONDS} s measured, ${CONNECTIONS} connections`);
  const specFile = path.join(os.tmpdir(), `bench-spec-${process.pid}-${name}.json`);
  const answeredFile = path.join(os.tmpdir(), `bench-answered-${process.pid}-${name}.json`);
  fs.writeFileSync(specFile, JSON.stringify({ url: server.url, method: 'POST', connections: CONNECTIONS, warmupSeconds: WARMUP, seconds: SECONDS, answeredFile, ...spec }));
  const child = track(spawn(process.execPath, ['-r', REGISTER, path.join(__dirname, 'load.ts'), specFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let before = { cpuMs: 0, rssMb: 0 };
  let pgBefore = 0;
  let machineBefore = { busy: 0, total: 0 };
  let peakRss = 0;
  let sampler: NodeJS.Timeout | null = null;
  let pgByKind = new Map<string, number>();
  let reset: Promise<void> = Promise.resolve();
  child.stderr.on('data', (d) => process.stdout.write(String(d)));
  child.stdout.on('data', async (d) => {
    out += d;
    if (String(d).includes('MEASURING')) {
      if (process.env.BENCH_PROFILE) process.kill(server.pid, 'SIGUSR2');
      before = procStat(server.pid);
      pgBefore = postgresCpuMs(server.postmaster);
      machineBefore = machineCpuMs();
      if (PG_DETAIL) {
        pgByKind = postgresCpuByKind(server.postmaster);
        reset = resetStatements(server.dbUrl);
      }
      await eventLoopP99(server.url, true);
      sampler = setInterval(() => (peakRss = Math.max(peakRss, procStat(server.pid).rssMb)), 200);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (sampler) clearInterval(sampler);
  if (process.env.BENCH_PROFILE) process.kill(server.pid, 'SIGUSR2');
  fs.rmSync(specFile, { force: true });
  if (code !== 0) throw new Error(`${name}: load process exited with ${code}\n${out}`);
  const answered = JSON.parse(fs.readFileSync(answeredFile, 'utf8')) as number[];
  fs.rmSync(answeredFile, { force: true });
  const after = procStat(server.pid);
  const pgAfter = postgresCpuMs(server.postmaster);
  const machineAfter = machineCpuMs();
  const result = JSON.parse(out.trim().split('\n').pop()!) as Omit<WorkloadResult, 'name' | 'cpuMsPerRequest' | 'peakRssMb' | 'eventLoopDelayP99Ms' | 'ceiling' | 'fractionOfCeiling'>;
  const pgByKindAfter = PG_DETAIL ? postgresCpuByKind(server.postmaster) : null;
  const eld = await eventLoopP99(server.url, false);
  peakRss = Math.max(peakRss, after.rssMb);
  await reset;
  const detail = pgByKindAfter ? await postgresDetail(server.dbUrl, result.requests, pgByKind, pgByKindAfter) : undefined;
  return {
    name,
    ...result,
    cpuMsPerRequest: result.requests ? (after.cpuMs - before.cpuMs) / result.requests : NaN,
    postgresCpuMsPerRequest: result.requests ? (pgAfter - pgBefore) / result.requests : NaN,
    machineCoresBusy: ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * CORES,
    peakRssMb: peakRss,
    eventLoopDelayP99Ms: eld,
    ceiling,
    fractionOfCeiling: result.rate / ceiling.rate,
    answered,
    ...(detail ? { postgresDetail: detail } : {}),
  };
}

function waitForBanner(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('GraphQL:')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
  });
}

/** The project's build (tsc), which the benchmark runs: the server as production runs it. */
export function buildProject(): void {
  const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('the build failed');
}

export interface ProjectServer {
  child: ChildProcess;
  url: string;
  pid: number;
  /** The benchmark "Alipay" private key (PKCS#8 PEM) whose public half the server trusts. */
  alipayPem: string;
  stop(): Promise<void>;
}

/**
 * The server from the build (NODE_ENV=production) with fresh keys. `detached` starts it in a process group of its
 * own (WORKERS included), so that it can be paused and stopped as a whole; `env` adds or overrides settings.
 */
export async function startProject(work: string, dbUrl: string, options: { detached?: boolean; env?: Record<string, string> } = {}): Promise<ProjectServer> {
  const appKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const alipayKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const profileDir = process.env.BENCH_PROFILE ? path.resolve(process.env.BENCH_PROFILE) : null;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true }); // the hook writes into it and creates nothing
  const profile = profileDir ? ['-r', path.join(__dirname, 'profiler-hook.js')] : [];
  const child = spawn(process.execPath, [...profile, path.join(ROOT, 'dist/src/main.js')], {
    cwd: work,
    detached: options.detached ?? false,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(port),
      DATABASE_URL: dbUrl,
      DATA_DIR: path.join(work, 'data'),
      DB_POOL_SIZE: process.env.BENCH_DB_POOL ?? '20',
      JWT_SECRET,
      METRICS_TOKEN,
      ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do',
      ALIPAY_APP_ID: APP_ID,
      ALIPAY_SELLER_ID: SELLER_ID,
      ALIPAY_APP_PRIVATE_KEY: pem(appKey),
      ALIPAY_PUBLIC_KEY: alipayKey.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      JOBS_ENABLED: 'false',
      WORKERS: process.env.BENCH_WORKERS ?? '1',
      LOG_LEVEL: 'warn',
      UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(CORES),
      ...(profileDir ? { BENCH_PROFILE_DIR: profileDir } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      if (options.detached) process.kill(-child.pid!, 'SIGCONT'); // it may have been paused
      child.kill('SIGTERM');
    } catch {
      // gone meanwhile
    }
    const timer = setTimeout(() => {
      try {
        process.kill(options.detached ? -child.pid! : child.pid!, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }, 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForBanner(child);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, url, pid: child.pid!, alipayPem: pem(alipayKey.privateKey), stop };
}

/**
 * PostgreSQL as the benchmark runs it: durable (fsync and synchronous_commit on), room for every pool; with
 * `statements`, pg_stat_statements loaded (BENCH_PG_DETAIL).
 */
export function startBenchPostgres(work: string, options: { statements?: boolean } = {}): Promise<RunningPostgres> {
  const detail: Record<string, string> = options.statements ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_planning': 'on', track_io_timing: 'on' } : {};
  return startEmbeddedPostgres({ root: path.join(work, 'pg'), durable: true, settings: { max_connections: 300, ...detail } });
}

/**
 * BENCH_PG_DETAIL=1 (`npm run bench` alone; the side-by-side run ignores it): where PostgreSQL's time goes in each
 * window. pg_stat_statements (reset when the window opens)
 * gives each statement's calls, execution and planning time and WAL bytes per request; /proc gives the CPU of each
 * kind of PostgreSQL process (client backends, WAL writer, checkpointer, autovacuum). It costs PostgreSQL a few
 * percent, so its windows are for reading the split, not for the headline rates.
 */
export const PG_DETAIL = process.env.BENCH_PG_DETAIL === '1';

/** CPU time of the PostgreSQL server by kind of process ("client backend", "walwriter", "autovacuum worker", ...), and the part of it in the kernel ("client backend (kernel)"). */
export function postgresCpuByKind(postmaster: number): Map<string, number> {
  const byKind = new Map<string, number>();
  const add = (kind: string, ms: number) => byKind.set(kind, (byKind.get(kind) ?? 0) + ms);
  for (const p of postgresProcesses(postmaster)) {
    let title: string;
    try {
      title = fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue; // the process ended meanwhile
    }
    const background = /^postgres: (checkpointer|background writer|walwriter|autovacuum launcher|autovacuum worker|logical replication launcher|io worker|walsummarizer|archiver)/.exec(title);
    const kind = p.pid === postmaster ? 'postmaster' : background ? background[1] : 'client backend';
    add(kind, p.userMs + p.kernelMs);
    add(`${kind} (kernel)`, p.kernelMs);
  }
  return byKind;
}

/** The PostgreSQL split of one window (BENCH_PG_DETAIL=1), per request. */
export async function postgresDetail(
  dbUrl: string,
  requests: number,
  cpuBefore: Map<string, number>,
  cpuAfter: Map<string, number>,
): Promise<{ processes: Record<string, number>; statements: { query: string; calls: number; execMs: number; planMs: number; walBytes: number }[] }> {
  const per = (x: number) => (requests ? x / requests : NaN);
  const processes: Record<string, number> = {};
  for (const [kind, ms] of cpuAfter) processes[kind] = per(ms - (cpuBefore.get(kind) ?? 0));
  const pool = benchPool({ connectionString: dbUrl, max: 1 });
  const { rows } = await pool.query<{ query: string; calls: string; exec: number; plan: number; wal: string }>(
    `select query, calls::text, total_exec_time as exec, total_plan_time as plan, wal_bytes::text as wal
       from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
      order by total_exec_time + total_plan_time desc limit 15`,
  );
  await pool.end();
  const statements = rows.map((r) => ({ query: r.query.replace(/\s+/g, ' ').slice(0, 110), calls: per(Number(r.calls)), execMs: per(r.exec), planMs: per(r.plan), walBytes: per(Number(r.wal)) }));
  log('    PostgreSQL CPU ms per request by process: ' + Object.entries(processes).filter(([, ms]) => ms > 0.001).map(([k, ms]) => `${k} ${ms.toFixed(3)}`).join(', '));
  log('    statements per request (calls, exec ms, plan ms, WAL bytes):');
  for (const s of statements) log(`      ${s.calls.toFixed(2).padStart(5)} ${s.execMs.toFixed(3).padStart(7)} ${s.planMs.toFixed(3).padStart(6)} ${s.walBytes.toFixed(0).padStart(6)}  ${s.query}`);
  return { processes, statements };
}

/** Empties pg_stat_statements (BENCH_PG_DETAIL=1) as a window opens. */
export async function resetStatements(dbUrl: string): Promise<void> {
  const pool = benchPool({ connectionString: dbUrl, max: 1 });
  await pool.query('select pg_stat_statements_reset()');
  await pool.end();
}

/** Prints and returns the machine's ceilings. */
export async function measureCeilings(dbUrl: string): Promise<{ rsa: number; insert: number; update: number }> {
  log('▶ ceilings: RSA-2048 SHA256 signatures on all cores, PostgreSQL single-row INSERT and UPDATE with 16 clients');
  const rsa = await rsaCeiling();
  log(`    RSA-2048 sign: ${Math.round(rsa)}/s`);
  const pgRates = await pgCeilings(dbUrl);
  log(`    INSERT: ${Math.round(pgRates.insert)}/s   UPDATE: ${Math.round(pgRates.update)}/s`);
  return { rsa, ...pgRates };
}

/** `--peer NAME` or `--peer=NAME` on the command line, else BENCH_PEER. */
function peerArgument(argv: string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--peer') return argv[i + 1] ?? '';
    if (argv[i].startsWith('--peer=')) return argv[i].slice('--peer='.length);
  }
  return process.env.BENCH_PEER || null;
}

async function main(): Promise<void> {
  const peer = peerArgument(process.argv.slice(2));
  if (peer !== null && peer !== 'seed') throw new Error(`unknown --peer ${JSON.stringify(peer)} (known: seed)`);
  if (peer === 'seed') {
    // loaded only when asked for (it imports this file's helpers)
    const { runSeedPeer, seedDir } = require('./peer-seed') as typeof import('./peer-seed');
    const dir = seedDir();
    if (fs.existsSync(path.join(dir, 'server.py'))) {
      if (await runSeedPeer(dir)) return;
    } else {
      log(`reference not found at ${dir}: measuring the project alone`);
    }
  }
  await projectAlone();
}

/** The project alone (`npm run bench`). */
async function projectAlone(): Promise<void> {
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-bench-'));
  fs.chmodSync(work, 0o755);
  let pg: RunningPostgres | null = null;
  let server: ProjectServer | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await server?.stop();
      await pg?.stop();
      fs.rmSync(work, { recursive: true, force: true });
    })());
  const unhook = stopOnSignals(cleanup);
  try {
    log(`machine: ${CORES} cores, ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
    log('▶ starting PostgreSQL (durable: fsync and synchronous_commit on)');
    pg = await startBenchPostgres(work, { statements: PG_DETAIL });
    const admin = benchPool({ connectionString: pg.url(), max: 1 });
    await admin.query('create database bench');
    await admin.end();
    const dbUrl = pg.url('bench', 'socket');
    if (PG_DETAIL) {
      const bench = benchPool({ connectionString: dbUrl, max: 1 });
      await bench.query('create extension pg_stat_statements');
      await bench.end();
    }

    const ceilings = await measureCeilings(dbUrl);
    const rsa = ceilings.rsa;
    const pgRates = { insert: ceilings.insert, update: ceilings.update };

    log('▶ building (tsc) and starting the server from the build (NODE_ENV=production) with fresh keys');
    buildProject();
    server = await startProject(work, dbUrl);
    const target = { url: server.url, pid: server.pid, postmaster: pg.pid, dbUrl };

    log('▶ preparing data: users and tokens, orders to pay, pre-signed notifies');
    const data = await prepare(dbUrl, work, server.alipayPem);

    const only = process.env.BENCH_ONLY?.split(',');
    const wanted = (name: string) => !only || only.includes(name);
    const results: WorkloadResult[] = [];
    if (wanted('createOrder')) {
      results.push(await workload('createOrder', target, { path: '/graphql', dataFile: data.createOrder, contentType: 'application/json', expect: 'graphql' }, { name: 'PostgreSQL INSERT', rate: pgRates.insert }));
    }
    if (wanted('generatePayLink')) {
      results.push(await workload('generatePayLink', target, { path: '/graphql', dataFile: data.payLink, contentType: 'application/json', expect: 'graphql' }, { name: 'RSA-2048 sign', rate: rsa }));
    }
    if (wanted('notify')) {
      results.push(await workload('notify', target, { path: '/alipay/notify', dataFile: data.notify[0], contentType: 'application/x-www-form-urlencoded; charset=utf-8', expect: 'success' }, { name: 'PostgreSQL UPDATE', rate: pgRates.update }));
    }
    const notify = results.find((r) => r.name === 'notify');
    const check = notify
      ? await verifyNotifies(dbUrl, [{ offset: 0, answered: notify.answered, sent: Math.min(notify.used, data.notifyCount) }], data.notifyCount)
      : { ok: true, expected: 0, paid: 0, otherChanged: 0 };
    for (const r of results) r.answered = [];

    const report = {
      date: new Date().toISOString(),
      machine: { cores: CORES, cpu: os.cpus()[0]?.model, node: process.version, memoryGb: Math.round(os.totalmem() / 2 ** 30) },
      settings: { seconds: SECONDS, warmup: WARMUP, connections: CONNECTIONS, dbPool: Number(process.env.BENCH_DB_POOL ?? 20), workers: Number(process.env.BENCH_WORKERS ?? 1) },
      ceilings: { rsaSignPerSecond: rsa, pgInsertPerSecond: pgRates.insert, pgUpdatePerSecond: pgRates.update },
      results,
      notifyCheck: check,
      durationSeconds: (Date.now() - started) / 1000,
    };
    const file = writeReport(report);
    log(`\n${table(report)}`);
    log(`\nnotify check: ${check.expected} notifies answered success, ${check.paid} orders paid (each with one status-change row); ${check.otherChanged} wrong${check.ok ? '' : '  ← FAILED'}`);
    log(`results: ${path.relative(ROOT, file)}   (${report.durationSeconds.toFixed(0)} s)`);
    if (!check.ok) process.exitCode = 1;
  } finally {
    unhook();
    await cleanup();
  }
}

/** bench/results/<date>.json (gitignored). */
export function writeReport(report: { date: string }): string {
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const file = path.join(__dirname, 'results', `${report.date.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 2));
  return file;
}

/**
 * Users, tokens, orders and pre-signed notifies, written straight into the database and into request files.
 * `rounds` notify files of `notifies` each, for distinct orders (a round never re-sends an earlier round's notify).
 */
export async function prepare(
  dbUrl: string,
  dir: string,
  alipayPem: string,
  options: { notifies?: number; rounds?: number } = {},
): Promise<{ createOrder: string; payLink: string; notify: string[]; notifyCount: number }> {
  const pool = benchPool({ connectionString: dbUrl, max: 4 });
  const USERS = 5000;
  const NOTIFIES = options.notifies ?? Number(process.env.BENCH_NOTIFIES ?? 40_000);
  const ROUNDS = options.rounds ?? 1;
  const TOTAL = NOTIFIES * ROUNDS;
  await pool.query(`insert into users (id, created_at) select 'bench-u-' || i, now() from generate_series(0, $1 - 1) i`, [USERS]);
  await pool.query(
    `insert into orders (id, order_no, user_id, subject, amount, status, refunded_amount, expires_at, created_at, updated_at)
     select gen_random_uuid(), 'BP' || lpad(i::text, 10, '0'), 'bench-u-' || i, 'bench pay link', 88.88, 'WAIT_BUYER_PAY', 0,
            now() + interval '1 day', now(), now() from generate_series(0, $1 - 1) i`,
    [USERS],
  );
  await pool.query(
    `insert into orders (id, order_no, user_id, subject, amount, status, refunded_amount, expires_at, created_at, updated_at)
     select gen_random_uuid(), 'BN' || lpad(i::text, 10, '0'), 'bench-u-' || (i % $2), 'bench notify', 9.99, 'WAIT_BUYER_PAY', 0,
            now() + interval '1 day', now(), now() from generate_series(0, $1 - 1) i`,
    [TOTAL, USERS],
  );
  const payOrders = (await pool.query<{ id: string; user_id: string }>(`select id, user_id from orders where order_no like 'BP%' order by order_no`)).rows;
  await pool.end();

  const secret = new TextEncoder().encode(JWT_SECRET);
  const tokens: string[] = [];
  for (let i = 0; i < USERS; i++) tokens.push(await issueToken(secret, { sub: `bench-u-${i}` }, { expiresIn: '2h' }));

  const write = (name: string, lines: string[]) => {
    const file = path.join(dir, `${name}.ndjson`);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };
  const createQuery = 'mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo status amount } }';
  const createOrder = write(
    'createOrder',
    tokens.map((t) => JSON.stringify({ headers: { authorization: `Bearer ${t}` }, body: JSON.stringify({ query: createQuery, variables: { input: { amount: '88.88', subject: 'bench 一杯茶' } } }) })),
  );
  const linkQuery = 'mutation($id: ID!) { generatePayLink(orderId: $id, channel: PAGE) { url expiresAt } }';
  const payLink = write(
    'payLink',
    payOrders.map((o, i) => JSON.stringify({ headers: { authorization: `Bearer ${tokens[i]}` }, body: JSON.stringify({ query: linkQuery, variables: { id: o.id } }) })),
  );

  const per = Math.ceil(TOTAL / CORES);
  const parts = await inWorkers<string[]>(CORES, `
    const { parentPort, workerData } = require('node:worker_threads');
    const crypto = require('node:crypto');
    const { signedNotifyBody } = require(${JSON.stringify(path.join(ROOT, 'src/sandbox/sandbox.callbacks.ts'))});
    const key = crypto.createPrivateKey(workerData.pem);
    (async () => {
      const out = [];
      for (let i = workerData.from; i < workerData.to; i++) {
        const body = await signedNotifyBody({ appId: ${JSON.stringify(APP_ID)}, sellerId: ${JSON.stringify(SELLER_ID)}, outTradeNo: 'BN' + String(i).padStart(10, '0'),
          tradeNo: '2026112522001' + String(i).padStart(15, '0'), totalAmount: '9.99', subject: 'bench notify', tradeStatus: 'TRADE_SUCCESS', buyerId: '2088000000000002' }, key);
        out.push(JSON.stringify({ body }));
      }
      parentPort.postMessage(out);
    })();
  `, (i) => ({ pem: alipayPem, from: Math.min(TOTAL, i * per), to: Math.min(TOTAL, (i + 1) * per) }));
  const all = parts.flat();
  const notify = Array.from({ length: ROUNDS }, (_, r) => write(ROUNDS === 1 ? 'notify' : `notify-${r + 1}`, all.slice(r * NOTIFIES, (r + 1) * NOTIFIES)));
  return { createOrder, payLink, notify, notifyCount: NOTIFIES };
}

/**
 * After the notify runs: every order whose notify was answered `success` is paid; no order whose notify was never
 * sent is paid (a notify still in flight when the window closed may have been committed without its answer
 * arriving); no other order changed. One slice per notify run: its first order (`offset`), the indices in its
 * file answered well, and how many of its notifies were sent (the rest of its `size` must stay unpaid).
 */
export async function verifyNotifies(
  dbUrl: string,
  slices: { offset: number; answered: number[]; sent: number }[],
  size: number,
): Promise<{ ok: boolean; expected: number; paid: number; otherChanged: number }> {
  const pool = benchPool({ connectionString: dbUrl, max: 1 });
  const paidRows = (await pool.query<{ i: number }>(`select substr(order_no, 3)::int as i from orders where order_no like 'BN%' and status = 'TRADE_SUCCESS'`)).rows;
  const paid = new Set(paidRows.map((r) => r.i));
  let missing = 0;
  let beyond = 0;
  let expected = 0;
  const covered = new Set<number>();
  for (const s of slices) {
    const answered = new Set(s.answered.map((i) => s.offset + i));
    expected += answered.size;
    missing += [...answered].filter((i) => !paid.has(i)).length;
    beyond += paidRows.filter((r) => r.i >= s.offset + s.sent && r.i < s.offset + size).length;
    for (let i = s.offset; i < s.offset + size; i++) covered.add(i);
  }
  beyond += paidRows.filter((r) => !covered.has(r.i)).length; // a slice that was never sent
  const others = Number((await pool.query<{ n: string }>(`select count(*)::text as n from orders where order_no not like 'BN%' and status <> 'WAIT_BUYER_PAY'`)).rows[0].n);
  const events = Number((await pool.query<{ n: string }>(`select count(*)::text as n from order_events e join orders o on o.id = e.order_id where o.order_no like 'BN%' and e.type = 'STATUS_CHANGED'`)).rows[0].n);
  await pool.end();
  return { ok: missing === 0 && beyond === 0 && others === 0 && events === paid.size, expected, paid: paid.size, otherChanged: others + beyond + missing };
}

const TARGETS: Record<string, { rate: number; p99: number; eld?: number }> = {
  createOrder: { rate: 3000, p99: 50 },
  generatePayLink: { rate: 2000, p99: 50, eld: 10 },
  notify: { rate: 2000, p99: 50 },
};

function table(report: { results: WorkloadResult[]; ceilings: Record<string, number> }): string {
  const rows = [
    ['workload', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'CPU ms/req', 'PG ms/req', 'cores busy', 'peak RSS MB', 'ELD p99 ms', 'of ceiling', 'target', 'met'],
    ...report.results.map((r) => {
      const t = TARGETS[r.name];
      const failures = r.errors + r.timeouts + r.non2xx + r.badAnswers;
      const met = r.rate >= t.rate && r.latency.p99 <= t.p99 && (t.eld === undefined || r.eventLoopDelayP99Ms <= t.eld) && r.peakRssMb <= 250 && failures === 0;
      return [
        r.name,
        Math.round(r.rate).toString(),
        r.latency.p50.toString(),
        r.latency.p90.toString(),
        r.latency.p99.toString(),
        failures.toString(),
        r.cpuMsPerRequest.toFixed(3),
        r.postgresCpuMsPerRequest.toFixed(3),
        r.machineCoresBusy.toFixed(2),
        r.peakRssMb.toFixed(0),
        r.eventLoopDelayP99Ms.toFixed(1),
        `${(r.fractionOfCeiling * 100).toFixed(0)}% of ${r.ceiling.name} ${Math.round(r.ceiling.rate)}/s`,
        `≥${t.rate}/s p99≤${t.p99}${t.eld ? ` ELD≤${t.eld}` : ''}`,
        met ? 'yes' : 'NO',
      ];
    }),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => `| ${r.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`).join('\n');
}

if (require.main === module) {
  main().catch((err) => {
    if (interrupted) return; // the signal handler stops everything and exits
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : err}\n`);
    process.exit(1);
  });
}
