/**
 * `npm run bench -- --peer seed` (or BENCH_PEER=seed): this project and the reference in
 * ../shared/bench/seed-tornado (BENCH_SEED_DIR; Tornado + pycryptodome + asyncpg, see its README) side by side in
 * one run, on the same embedded PostgreSQL (durable: fsync and synchronous_commit on), with the same load driver
 * (bench/peer-load.ts: autocannon 9, BENCH_CONNECTIONS connections, BENCH_WARMUP s warm-up, a drain, BENCH_SECONDS
 * s measured), interleaved: for each of BENCH_ROUNDS rounds (default 2), for each workload, project, seed_shared
 * and seed_shared_2p back to back.
 *
 * - Every server is started once and kept for all rounds, but frozen (SIGSTOP to its process group) whenever it is
 *   not the one being measured: only the measured server runs during a window.
 * - Before each window: wait (BENCH_QUIET_MAX s at most, default 30) until the machine has been nearly idle for
 *   1 s (< BENCH_QUIET_BELOW busy cores, default 0.15), as the reference's harness does; warn otherwise. During the
 *   window the CPU of everything that is neither the server, PostgreSQL, the load process nor this one is recorded
 *   (`other cores`), and windows where it exceeded 0.2 cores are marked.
 * - The project runs as `npm run bench` runs it (the build, NODE_ENV=production, WORKERS=BENCH_WORKERS or 1), with
 *   LOG_REQUESTS=false: the reference writes no access log.
 * - The reference: its own database (seedbench, from its schema.sql), its own PKCS#1 RSA-2048 "app" and "alipay"
 *   key pairs per configuration (as its run.sh makes them); `seed_shared` = `server.py --alipay shared`,
 *   `seed_shared_2p` = the same with `--procs 2 --reuse-port`. It connects through the same Unix socket as the
 *   project (run.sh uses TCP), so that both reach PostgreSQL the same way.
 * - Workloads (the reference's as its loadgen.js sends them): create order (GraphQL createOrder / POST /orders),
 *   pay link (generatePayLink PAGE / GET /pay-link?id=N cycling over unpaid orders), notify (distinct pre-signed
 *   notifies for distinct existing orders; the reference's are its loadgen's 23-field bodies, signed with its
 *   "alipay" private key over the sorted params except sign/sign_type). Fresh notify orders every round.
 * - Checks: the project's notify check (bench/run.ts); for the reference, as its loadgen does: three pay links whose
 *   signature verifies with the app public key and carry the right out_trade_no, a forged notify (amount changed
 *   after signing) that leaves its order unpaid, every notify answered paid its order and no unsent one did.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify as verifySignature } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { freePort, type RunningPostgres } from '../src/db/embedded-postgres';
import type { PeerLoadResult, PeerLoadSpec } from './peer-load';
import { canonical, seedNotifyParams, seedSn } from './seed-notify';
import {
  buildProject,
  benchPool,
  CONNECTIONS,
  CORES,
  eventLoopP99,
  inWorkers,
  log,
  measureCeilings,
  postgresCpuMs,
  prepare,
  REGISTER,
  ROOT,
  SECONDS,
  startBenchPostgres,
  startProject,
  stopOnSignals,
  track,
  verifyNotifies,
  WARMUP,
  writeReport,
  type ProjectServer,
} from './run';

const PYTHON = '/usr/bin/python3'; // Debian's, so that the Debian python3-* modules import (as run.sh does)
const DEBIAN_PACKAGES = ['python3-tornado', 'python3-pycryptodome', 'python3-asyncpg'];
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const QUIET_MAX_S = Number(process.env.BENCH_QUIET_MAX ?? 30);
const QUIET_BELOW = Number(process.env.BENCH_QUIET_BELOW ?? 0.15);
const OTHER_MAX = 0.2;
/** Notifies per configuration and round: enough for the window at the rates seen here (a wrap is reported). */
const PROJECT_NOTIFIES = Number(process.env.BENCH_NOTIFIES ?? Math.ceil(3500 * (WARMUP + SECONDS + 1)));
const SEED_NOTIFIES = Number(process.env.BENCH_SEED_NOTIFIES ?? Math.ceil(2000 * (WARMUP + SECONDS + 1)));
const PAY_LINK_ORDERS = 5000;
const SEED_DB = 'seedbench';

const CONFIGS = ['project', 'seed_shared', 'seed_shared_2p'] as const;
type ConfigName = (typeof CONFIGS)[number];
const WORKLOADS = ['createOrder', 'payLink', 'notify'] as const;
type WorkloadName = (typeof WORKLOADS)[number];
const WORKLOAD_TEXT: Record<WorkloadName, string> = {
  createOrder: 'create order (GraphQL createOrder | POST /orders)',
  payLink: 'pay link (generatePayLink PAGE | GET /pay-link?id=N)',
  notify: 'notify (POST /alipay/notify, distinct pre-signed)',
};

/** Where the reference lives: ../shared/bench/seed-tornado next to the project, or BENCH_SEED_DIR. */
export function seedDir(): string {
  return path.resolve(process.env.BENCH_SEED_DIR || path.resolve(ROOT, '../shared/bench/seed-tornado'));
}

// ------------------------------------------------------------------------------------------------ processes

/** Stat fields of one process (after the command name): pgrp, utime + stime, RSS. */
function readProc(pid: number): { pgrp: number; cpuMs: number; rssMb: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pgrp: Number(f[2]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / 100, rssMb: (Number(f[21]) * 4096) / 2 ** 20 };
  } catch {
    return null;
  }
}

/** CPU and RSS of a whole process group (a server started detached: its workers and forks included). */
function groupStat(pgid: number): { cpuMs: number; rssMb: number } {
  let cpuMs = 0;
  let rssMb = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = readProc(Number(entry));
    if (p && p.pgrp === pgid) {
      cpuMs += p.cpuMs;
      rssMb += p.rssMb;
    }
  }
  return { cpuMs, rssMb };
}

/** Busy CPU of the whole machine in ms (user, nice, system, irq, softirq; steal and idle left out). */
function machineBusyMs(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return ((f[0] + f[1] + f[2] + f[5] + f[6]) * 1000) / 100;
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A server the benchmark started in a process group of its own: frozen between its windows, stopped at the end. */
interface Server {
  name: ConfigName;
  url: string;
  pid: number;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

const running = new Set<Server>();

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone
  }
}

// A crash of this process must not leave a server behind (PostgreSQL has its own hook in embedded-postgres).
process.on('exit', () => {
  for (const s of running) signalGroup(s.pid, 'SIGKILL');
});

function projectServer(p: ProjectServer): Server {
  let stopping = false;
  const server: Server = {
    name: 'project',
    url: p.url,
    pid: p.pid,
    pause: () => stopping || signalGroup(p.pid, 'SIGSTOP'),
    resume: () => signalGroup(p.pid, 'SIGCONT'),
    stop: async () => {
      stopping = true;
      await p.stop();
      running.delete(server);
    },
  };
  running.add(server);
  return server;
}

interface SeedKeys {
  appPrivate: string;
  appPublic: string;
  alipayPrivate: string;
  alipayPublic: string;
}

/** The reference's "app" and "alipay" RSA-2048 pairs, PKCS#1 PEM private keys (as run.sh makes them). */
function seedKeys(dir: string): SeedKeys {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = {} as SeedKeys;
  for (const who of ['app', 'alipay'] as const) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    fs.writeFileSync(path.join(dir, `${who}_private.pem`), privateKey, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, `${who}_public.pem`), publicKey);
    files[`${who}Private`] = path.join(dir, `${who}_private.pem`);
    files[`${who}Public`] = path.join(dir, `${who}_public.pem`);
  }
  return files;
}

async function startSeed(name: Exclude<ConfigName, 'project'>, dir: string, work: string, dsn: string, keys: SeedKeys): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [path.join(dir, 'server.py'), '--port', String(port), '--dsn', dsn, '--app-private-key', keys.appPrivate, '--alipay-public-key', keys.alipayPublic, '--alipay', 'shared'];
  args.push(...(name === 'seed_shared_2p' ? ['--procs', '2', '--reuse-port'] : ['--procs', '1']));
  const logFile = path.join(work, `${name}.log`);
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(PYTHON, args, { cwd: dir, detached: true, stdio: ['ignore', out, out], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' } });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping = false;
  const server: Server = {
    name,
    url,
    pid: child.pid!,
    pause: () => stopping || signalGroup(child.pid!, 'SIGSTOP'),
    resume: () => signalGroup(child.pid!, 'SIGCONT'),
    stop: async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child.pid!, 'SIGCONT');
        signalGroup(child.pid!, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      signalGroup(child.pid!, 'SIGKILL'); // forked workers that outlived their parent
      running.delete(server);
    },
  };
  running.add(server);
  // Ready = any HTTP answer to GET /pay-link?id=0 (run.sh's test).
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited at start-up:\n${fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n')}`);
    }
    try {
      await (await fetch(`${url}/pay-link?id=0`)).arrayBuffer();
      return server;
    } catch {
      if (Date.now() > until) throw new Error(`${name} did not answer on ${url}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// ------------------------------------------------------------------------------------------------ dependencies

function pythonHasDeps(): boolean {
  const probe = 'import tornado, asyncpg\ntry:\n    import Cryptodome.Signature.PKCS1_v1_5\nexcept ImportError:\n    import Crypto.Signature.PKCS1_v1_5\n';
  return spawnSync(PYTHON, ['-c', probe], { stdio: 'ignore' }).status === 0;
}

/** The reference's Python modules, from Debian as its run.sh installs them; null when present, else why not. */
function ensureSeedDeps(): string | null {
  const command = `apt-get update && apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`;
  if (!fs.existsSync(PYTHON)) return `${PYTHON} is missing (install python3, then: ${command})`;
  if (pythonHasDeps()) return null;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status !== 0) {
    return `the reference's Python modules are missing; install them with: ${command}`;
  }
  log(`▶ installing the reference's Python modules: ${command}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', '-qq', ...DEBIAN_PACKAGES], { stdio: 'inherit', env }) : update;
  if (install.status !== 0 || !pythonHasDeps()) return `installing the reference's Python modules failed; run: ${command}`;
  return null;
}

function pythonVersions(): string {
  const out = spawnSync(
    PYTHON,
    ['-c', 'import sys, tornado, asyncpg\ntry:\n    import Cryptodome as c\nexcept ImportError:\n    import Crypto as c\nprint(sys.version.split()[0], tornado.version, asyncpg.__version__, c.__version__)'],
    { encoding: 'utf8' },
  );
  const [py, tornado, asyncpg, crypto] = out.stdout.trim().split(' ');
  return `Python ${py}, Tornado ${tornado}, asyncpg ${asyncpg}, pycryptodome ${crypto}`;
}

// ------------------------------------------------------------------------------------------------ the reference's data

/** One notify run of the reference: its orders (the first is the forged notify's), and the file of signed bodies. */
interface SeedSlice {
  config: Exclude<ConfigName, 'project'>;
  round: number;
  /** Global index of the slice's first order (order_sn `SN<index>`); bodies are for offset+1 … offset+count. */
  offset: number;
  count: number;
  file: string;
  forged: string;
}

/** Pay-link orders and notify orders in the reference's table, and the request files. */
async function prepareSeed(pool: Pool, work: string, keys: Record<string, SeedKeys>): Promise<{ createOrder: string; payLink: string; payLinkOrders: { id: number; sn: string }[]; slices: SeedSlice[] }> {
  const write = (name: string, lines: string[]) => {
    const file = path.join(work, `${name}.ndjson`);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };
  const payLinkOrders = (
    await pool.query<{ id: string; order_sn: string }>(
      `insert into orders (user_id, order_sn, pay_status, post_script, order_mount, pay_time)
       select 1, 'SP' || lpad(i::text, 10, '0'), 'paying', '测试订单 bench', 99.5, now() from generate_series(0, $1 - 1) i
       returning id, order_sn`,
      [PAY_LINK_ORDERS],
    )
  ).rows
    .map((r) => ({ id: Number(r.id), sn: r.order_sn }))
    .sort((a, b) => a.id - b.id);
  const createOrder = write('seed-createOrder', [JSON.stringify({ body: JSON.stringify({ order_mount: 99.5, post_script: '测试订单 bench' }) })]);
  const payLink = write('seed-payLink', payLinkOrders.map((o) => JSON.stringify({ path: `/pay-link?id=${o.id}` })));

  const slices: SeedSlice[] = [];
  let offset = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const config of ['seed_shared', 'seed_shared_2p'] as const) {
      slices.push({ config, round, offset, count: SEED_NOTIFIES, file: '', forged: '' });
      offset += SEED_NOTIFIES + 1;
    }
  }
  await pool.query(
    `insert into orders (user_id, order_sn, pay_status, post_script, order_mount, pay_time)
     select 1, 'SN' || lpad(i::text, 10, '0'), 'paying', '测试订单 bench', 99.5, now() from generate_series(0, $1 - 1) i`,
    [offset],
  );
  // Sign in worker threads (all cores), each slice with its configuration's "alipay" private key.
  const now = Date.now();
  for (const slice of slices) {
    const tasks = Array.from({ length: CORES }, (_, w) => {
      const per = Math.ceil(slice.count / CORES);
      return { from: slice.offset + 1 + w * per, to: Math.min(slice.offset + 1 + slice.count, slice.offset + 1 + (w + 1) * per) };
    });
    const parts = await inWorkers<string[]>(
      CORES,
      `
      const { parentPort, workerData } = require('node:worker_threads');
      const crypto = require('node:crypto');
      const { seedNotifyParams, canonical } = require(${JSON.stringify(path.join(__dirname, 'seed-notify.ts'))});
      const key = crypto.createPrivateKey(workerData.pem);
      const out = [];
      for (let i = workerData.from; i < workerData.to; i++) {
        const params = seedNotifyParams('SN' + String(i).padStart(10, '0'), i, new Date(workerData.now));
        const sign = crypto.sign('sha256', Buffer.from(canonical(params, ['sign', 'sign_type']), 'utf8'), key).toString('base64');
        out.push(JSON.stringify({ body: new URLSearchParams({ ...params, sign }).toString() }));
      }
      parentPort.postMessage(out);
    `,
      (w) => ({ pem: fs.readFileSync(keys[slice.config].alipayPrivate, 'utf8'), now, ...tasks[w] }),
    );
    slice.file = write(`seed-notify-${slice.config}-${slice.round}`, parts.flat());
    // The forged one: signed over the real params, then the amount changed (loadgen.js's check).
    const fp = seedNotifyParams(seedSn(slice.offset), slice.offset, new Date(now));
    const signature = sign('sha256', Buffer.from(canonical(fp, ['sign', 'sign_type']), 'utf8'), createPrivateKey(fs.readFileSync(keys[slice.config].alipayPrivate))).toString('base64');
    slice.forged = new URLSearchParams({ ...fp, total_amount: '0.01', sign: signature }).toString();
  }
  return { createOrder, payLink, payLinkOrders, slices };
}

/**
 * A GET that is tried again (3 times, 300 ms apart) when the connection fails: a server just resumed from SIGSTOP
 * may still be waking (one run of 2026-12-03 failed here, once, with "fetch failed"). The last failure is thrown.
 */
async function fetchRetrying(url: string): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url);
    } catch (err) {
      if (attempt >= 3) throw new Error(`GET ${url} failed ${attempt} times`, { cause: err });
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** Three pay links (first, middle, last order): the signature verifies with the app public key, the order is right. */
async function checkSeedPayLinks(server: Server, keys: SeedKeys, orders: { id: number; sn: string }[]): Promise<{ links: number; sigOk: number; outTradeNoOk: number }> {
  const pub = createPublicKey(fs.readFileSync(keys.appPublic));
  let sigOk = 0;
  let outTradeNoOk = 0;
  const picks = [orders[0], orders[Math.floor(orders.length / 2)], orders[orders.length - 1]];
  for (const order of picks) {
    const reply = (await (await fetchRetrying(`${server.url}/pay-link?id=${order.id}`)).json()) as { re_url?: string };
    if (!reply.re_url) continue;
    const params = Object.fromEntries(new URLSearchParams(reply.re_url.slice(reply.re_url.indexOf('?') + 1)));
    if (verifySignature('sha256', Buffer.from(canonical(params, ['sign']), 'utf8'), pub, Buffer.from(params.sign ?? '', 'base64'))) sigOk++;
    const biz = JSON.parse(params.biz_content ?? '{}') as { out_trade_no?: string };
    if (biz.out_trade_no === order.sn && params.method === 'alipay.trade.page.pay') outTradeNoOk++;
  }
  return { links: picks.length, sigOk, outTradeNoOk };
}

// ------------------------------------------------------------------------------------------------ measuring

interface Window {
  config: ConfigName;
  workload: WorkloadName;
  round: number;
  rate: number;
  requests: number;
  latency: { p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  badAnswers: number;
  failures: number;
  serverCpuMsPerRequest: number;
  postgresCpuMsPerRequest: number;
  loadCpuMsPerRequest: number;
  /** Cores used by everything else (other tenants) during the window. */
  otherCores: number;
  quietWaitMs: number;
  busyCoresBefore: number;
  peakRssMb: number;
  eventLoopDelayP99Ms: number | null;
  used: number;
  /** Distinct items (notifies) available, or null where cycling over them is the workload (pay-link orders). */
  items: number | null;
  answered?: number[];
}

/** Waits until the machine has been nearly idle for one second (BENCH_QUIET_MAX s at most); warns otherwise. */
async function waitQuiet(postmaster: number): Promise<{ waitedMs: number; busy: number; ours: number }> {
  const started = Date.now();
  for (;;) {
    const m0 = machineBusyMs();
    const o0 = postgresCpuMs(postmaster) + selfCpuMs() + [...running].reduce((a, s) => a + groupStat(s.pid).cpuMs, 0);
    await new Promise((r) => setTimeout(r, 1000));
    const busy = (machineBusyMs() - m0) / 1000;
    const ours = (postgresCpuMs(postmaster) + selfCpuMs() + [...running].reduce((a, s) => a + groupStat(s.pid).cpuMs, 0) - o0) / 1000;
    const waitedMs = Date.now() - started;
    if (busy < QUIET_BELOW) return { waitedMs, busy, ours };
    if (waitedMs > QUIET_MAX_S * 1000) {
      log(`    ⚠ the machine is not quiet after ${QUIET_MAX_S} s: ${busy.toFixed(2)} cores busy (${Math.max(0, busy - ours).toFixed(2)} not this benchmark's); measuring anyway`);
      return { waitedMs, busy, ours };
    }
  }
}

async function measure(
  server: Server,
  workload: WorkloadName,
  round: number,
  postmaster: number,
  spec: Omit<PeerLoadSpec, 'url' | 'connections' | 'warmupSeconds' | 'seconds' | 'answeredFile'>,
  items: number | null,
): Promise<Window> {
  server.resume();
  try {
    const quiet = await waitQuiet(postmaster);
    process.stdout.write(`  ${workload.padEnd(11)} ${server.name.padEnd(14)} round ${round}  `);
    const tag = `${process.pid}-${server.name}-${workload}-${round}`;
    const specFile = path.join(os.tmpdir(), `bench-peer-spec-${tag}.json`);
    const answeredFile = path.join(os.tmpdir(), `bench-peer-answered-${tag}.json`);
    const full: PeerLoadSpec = { ...spec, url: server.url, connections: CONNECTIONS, warmupSeconds: WARMUP, seconds: SECONDS, answeredFile };
    fs.writeFileSync(specFile, JSON.stringify(full));
    const child = track(spawn(process.execPath, ['-r', REGISTER, path.join(__dirname, 'peer-load.ts'), specFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let errText = '';
    let before: { server: number; pg: number; machine: number; self: number } | null = null;
    let peakRss = 0;
    let sampler: NodeJS.Timeout | null = null;
    let eldReset: Promise<unknown> = Promise.resolve();
    child.stderr.on('data', (d) => (errText += d));
    child.stdout.on('data', (d) => {
      out += d;
      if (!before && out.includes('MEASURING')) {
        before = { server: groupStat(server.pid).cpuMs, pg: postgresCpuMs(postmaster), machine: machineBusyMs(), self: selfCpuMs() };
        if (server.name === 'project') eldReset = eventLoopP99(server.url, true).catch(() => NaN);
        sampler = setInterval(() => (peakRss = Math.max(peakRss, groupStat(server.pid).rssMb)), 200);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const after = { server: groupStat(server.pid), pg: postgresCpuMs(postmaster), machine: machineBusyMs(), self: selfCpuMs() };
    if (sampler) clearInterval(sampler);
    fs.rmSync(specFile, { force: true });
    if (code !== 0 || !before) throw new Error(`${server.name} ${workload}: the load process exited with ${code}\n${out}\n${errText}`);
    const b = before as { server: number; pg: number; machine: number; self: number };
    await eldReset;
    const r = JSON.parse(out.trim().split('\n').pop()!) as PeerLoadResult;
    const answered = JSON.parse(fs.readFileSync(answeredFile, 'utf8')) as number[];
    fs.rmSync(answeredFile, { force: true });
    const eld = server.name === 'project' ? await eventLoopP99(server.url, false).catch(() => NaN) : null;
    const serverMs = after.server.cpuMs - b.server;
    const pgMs = after.pg - b.pg;
    const otherMs = after.machine - b.machine - serverMs - pgMs - r.loadCpuMs - (after.self - b.self);
    const perRequest = (ms: number) => (r.requests ? ms / r.requests : NaN);
    const w: Window = {
      config: server.name,
      workload,
      round,
      rate: r.rate,
      requests: r.requests,
      latency: r.latency,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      badAnswers: r.badAnswers,
      failures: r.errors + r.timeouts + r.non2xx + r.badAnswers,
      serverCpuMsPerRequest: perRequest(serverMs),
      postgresCpuMsPerRequest: perRequest(pgMs),
      loadCpuMsPerRequest: perRequest(r.loadCpuMs),
      otherCores: Math.max(0, otherMs / 1000 / (r.durationSeconds || SECONDS)),
      quietWaitMs: quiet.waitedMs,
      busyCoresBefore: quiet.busy,
      peakRssMb: Math.max(peakRss, after.server.rssMb),
      eventLoopDelayP99Ms: eld,
      used: r.used,
      items,
      answered,
    };
    log(
      `${Math.round(w.rate)} req/s  p99 ${w.latency.p99} ms  srv ${w.serverCpuMsPerRequest.toFixed(3)} ms/req  PG ${w.postgresCpuMsPerRequest.toFixed(3)} ms/req` +
        `${w.failures ? `  ${w.failures} failed` : ''}${w.otherCores > OTHER_MAX ? `  ⚠ other load ${w.otherCores.toFixed(2)} cores` : ''}` +
        `${items !== null && r.used > items ? `  ⚠ ${r.used} requests for ${items} distinct items: some repeated` : ''}`,
    );
    return w;
  } finally {
    server.pause();
  }
}

// ------------------------------------------------------------------------------------------------ tables

function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function render(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => `| ${r.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`).join('\n');
}

const f = (x: number | null, digits = 0) => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits));

function windowsTable(windows: Window[]): string {
  return render([
    ['round', 'workload', 'config', 'req/s', 'p50 ms', 'p99 ms', 'failed', 'srv ms/req', 'PG ms/req', 'ELD p99 ms', 'RSS MB', 'other cores'],
    ...windows.map((w) => [
      String(w.round),
      w.workload,
      w.config,
      f(w.rate),
      f(w.latency.p50),
      f(w.latency.p99),
      String(w.failures),
      f(w.serverCpuMsPerRequest, 3),
      f(w.postgresCpuMsPerRequest, 3),
      f(w.eventLoopDelayP99Ms, 1),
      f(w.peakRssMb),
      `${f(w.otherCores, 2)}${w.otherCores > OTHER_MAX ? ' ⚠' : ''}`,
    ]),
  ]);
}

interface Summary {
  workload: WorkloadName;
  configs: Record<ConfigName, { rate: number; p50: number; p99: number; serverCpuMsPerRequest: number; postgresCpuMsPerRequest: number; eventLoopDelayP99Ms: number | null; peakRssMb: number; failures: number } | null>;
  bestReference: ConfigName | null;
  /** project rate / best reference rate (medians over the rounds). */
  ratio: number;
}

function summarize(windows: Window[], workloads: readonly WorkloadName[]): Summary[] {
  return workloads.map((workload) => {
    const configs = {} as Summary['configs'];
    for (const config of CONFIGS) {
      const ws = windows.filter((w) => w.workload === workload && w.config === config);
      configs[config] = ws.length
        ? {
            rate: median(ws.map((w) => w.rate)),
            p50: median(ws.map((w) => w.latency.p50)),
            p99: median(ws.map((w) => w.latency.p99)),
            serverCpuMsPerRequest: median(ws.map((w) => w.serverCpuMsPerRequest)),
            postgresCpuMsPerRequest: median(ws.map((w) => w.postgresCpuMsPerRequest)),
            eventLoopDelayP99Ms: config === 'project' ? median(ws.map((w) => w.eventLoopDelayP99Ms ?? NaN)) : null,
            peakRssMb: Math.max(...ws.map((w) => w.peakRssMb)),
            failures: ws.reduce((a, w) => a + w.failures, 0),
          }
        : null;
    }
    const refs = (['seed_shared', 'seed_shared_2p'] as const).filter((c) => configs[c]);
    const best = refs.length ? refs.reduce((a, b) => (configs[b]!.rate > configs[a]!.rate ? b : a)) : null;
    return { workload, configs, bestReference: best, ratio: best && configs.project ? configs.project.rate / configs[best]!.rate : NaN };
  });
}

function summaryTable(summaries: Summary[]): string {
  const three = (s: Summary, pick: (c: NonNullable<Summary['configs'][ConfigName]>) => number | null, digits = 0) =>
    CONFIGS.map((c) => (s.configs[c] ? f(pick(s.configs[c]!), digits) : '–')).join(' / ');
  return render([
    ['workload', 'req/s project / seed_shared / seed_shared_2p', 'project ÷ best ref', 'p99 ms project / shared / 2p', 'srv ms/req project / shared / 2p', 'PG ms/req project / shared / 2p', 'failed'],
    ...summaries.map((s) => [
      s.workload,
      three(s, (c) => c.rate),
      s.bestReference ? `${f(s.ratio, 2)}× (vs ${s.bestReference})` : '–',
      three(s, (c) => c.p99),
      three(s, (c) => c.serverCpuMsPerRequest, 3),
      three(s, (c) => c.postgresCpuMsPerRequest, 3),
      three(s, (c) => c.failures),
    ]),
  ]);
}

// ------------------------------------------------------------------------------------------------ the run

/**
 * The side-by-side run. Returns false (after saying why) when the reference cannot be run here, so that the caller
 * measures the project alone.
 */
export async function runSeedPeer(dir: string): Promise<boolean> {
  const missing = ensureSeedDeps();
  if (missing) {
    log(`${missing}: measuring the project alone`);
    return false;
  }
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-peer-'));
  fs.chmodSync(work, 0o755);
  let pg: RunningPostgres | null = null;
  let seedPool: Pool | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const s of [...running]) await s.stop();
      await seedPool?.end().catch(() => undefined);
      await pg?.stop();
      fs.rmSync(work, { recursive: true, force: true });
    })());
  const unhook = stopOnSignals(cleanup);
  try {
    const workers = Number(process.env.BENCH_WORKERS ?? 1);
    log(`machine: ${CORES} cores, ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; reference: ${dir}`);
    log(`side by side: project (WORKERS=${workers}${process.env.BENCH_WORKERS ? ', from BENCH_WORKERS' : ''}, LOG_REQUESTS=false: the reference writes no access log), seed_shared, seed_shared_2p`);
    log(`${ROUNDS} round${ROUNDS === 1 ? '' : 's'} interleaved, ${CONNECTIONS} connections, ${WARMUP} s warm-up + drain + ${SECONDS} s measured per window; idle servers frozen (SIGSTOP)`);
    log('▶ starting PostgreSQL (durable: fsync and synchronous_commit on), one instance for both');
    pg = await startBenchPostgres(work);
    const admin = benchPool({ connectionString: pg.url(), max: 1 });
    await admin.query('create database bench');
    await admin.query(`create database ${SEED_DB}`);
    const pgVersion = (await admin.query<{ server_version: string }>('show server_version')).rows[0].server_version;
    await admin.end();
    const dbUrl = pg.url('bench', 'socket');
    // The reference through the same Unix socket as the project (asyncpg: the host in the query, the netloc empty).
    const socketHost = new URL(pg.url(SEED_DB, 'socket')).searchParams.get('host');
    const password = decodeURIComponent(new URL(pg.url()).password);
    const seedDsn = socketHost
      ? `postgresql://postgres:${encodeURIComponent(password)}@/${SEED_DB}?host=${encodeURIComponent(socketHost)}&port=${pg.port}`
      : pg.url(SEED_DB);
    seedPool = benchPool({ connectionString: pg.url(SEED_DB, 'socket'), max: 4 });
    await seedPool.query(fs.readFileSync(path.join(dir, 'schema.sql'), 'utf8'));

    const ceilings = await measureCeilings(dbUrl);

    log('▶ building (tsc) and starting the project from the build (NODE_ENV=production, LOG_REQUESTS=false)');
    buildProject();
    const projectProc = await startProject(work, dbUrl, { detached: true, env: { LOG_REQUESTS: 'false' } });
    const project = projectServer(projectProc);
    project.pause();

    log(`▶ starting the reference (${pythonVersions()}), fresh PKCS#1 key pairs per configuration`);
    const keys: Record<string, SeedKeys> = {};
    const seeds: Server[] = [];
    for (const name of ['seed_shared', 'seed_shared_2p'] as const) {
      keys[name] = seedKeys(path.join(work, `keys-${name}`));
      const s = await startSeed(name, dir, work, seedDsn, keys[name]);
      s.pause();
      seeds.push(s);
    }
    const servers: Record<ConfigName, Server> = { project, seed_shared: seeds[0], seed_shared_2p: seeds[1] };

    log(`▶ preparing data: the project's users, tokens, orders and ${PROJECT_NOTIFIES} pre-signed notifies per round; the reference's orders and ${SEED_NOTIFIES} per configuration and round`);
    const data = await prepare(dbUrl, work, projectProc.alipayPem, { notifies: PROJECT_NOTIFIES, rounds: ROUNDS });
    const seed = await prepareSeed(seedPool, work, keys);
    const payLinkChecks: Record<string, { links: number; sigOk: number; outTradeNoOk: number }> = {};
    for (const s of seeds) {
      s.resume();
      payLinkChecks[s.name] = await checkSeedPayLinks(s, keys[s.name], seed.payLinkOrders);
      s.pause();
    }
    // Both databases' bulk data vacuumed (hint bits set, statistics taken) and written out before the first window.
    // Otherwise whichever server runs first pays for it: the first change to each freshly loaded page sets its hint
    // bits and, with PostgreSQL 18's data checksums, logs the whole page, and autovacuum starts on the new tables.
    const projectDb = benchPool({ connectionString: dbUrl, max: 1 });
    await projectDb.query('vacuum (analyze)');
    await projectDb.end();
    await seedPool.query('vacuum (analyze)');
    await seedPool.query('checkpoint');
    const lineCount = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;

    const only = process.env.BENCH_ONLY?.split(',');
    const workloads = WORKLOADS.filter((w) => !only || only.includes(w) || (w === 'payLink' && only.includes('generatePayLink')));
    const windows: Window[] = [];
    const forgedReplies: { config: string; round: number; reply: string }[] = [];
    const postmaster = pg.pid;
    for (let round = 1; round <= ROUNDS; round++) {
      log(`\n▶ round ${round} of ${ROUNDS}`);
      for (const workload of workloads) {
        for (const config of CONFIGS) {
          const server = servers[config];
          if (config === 'project') {
            const file = workload === 'createOrder' ? data.createOrder : workload === 'payLink' ? data.payLink : data.notify[round - 1];
            const spec =
              workload === 'notify'
                ? { method: 'POST' as const, path: '/alipay/notify', contentType: 'application/x-www-form-urlencoded; charset=utf-8', dataFile: file, expect: 'success' as const }
                : { method: 'POST' as const, path: '/graphql', contentType: 'application/json', dataFile: file, expect: 'graphql' as const };
            windows.push(await measure(server, workload, round, postmaster, spec, workload === 'notify' ? lineCount(file) : null));
          } else if (workload === 'notify') {
            const slice = seed.slices.find((s) => s.config === config && s.round === round)!;
            server.resume();
            const reply = await fetch(`${server.url}/alipay/notify`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: slice.forged });
            forgedReplies.push({ config, round, reply: `${reply.status} ${(await reply.text()).slice(0, 40)}` });
            const spec = { method: 'POST' as const, path: '/alipay/notify', contentType: 'application/x-www-form-urlencoded', dataFile: slice.file, expect: 'success' as const };
            windows.push(await measure(server, workload, round, postmaster, spec, slice.count));
          } else if (workload === 'createOrder') {
            const spec = { method: 'POST' as const, path: '/orders', contentType: 'application/json', dataFile: seed.createOrder, expect: { includes: '"id"' } };
            windows.push(await measure(server, workload, round, postmaster, spec, null));
          } else {
            const spec = { method: 'GET' as const, path: '/pay-link', dataFile: seed.payLink, expect: { includes: '"re_url"' } };
            windows.push(await measure(server, workload, round, postmaster, spec, null));
          }
        }
      }
    }

    // Checks.
    const projectNotifies = windows.filter((w) => w.config === 'project' && w.workload === 'notify');
    const projectCheck = projectNotifies.length
      ? await verifyNotifies(
          dbUrl,
          projectNotifies.map((w) => ({ offset: (w.round - 1) * PROJECT_NOTIFIES, answered: w.answered ?? [], sent: Math.min(w.used, PROJECT_NOTIFIES) })),
          PROJECT_NOTIFIES,
        )
      : null;
    const seedChecks = await checkSeedNotifies(seedPool, seed.slices, windows, payLinkChecks);
    for (const w of windows) delete w.answered;

    const summaries = summarize(windows, workloads);
    const report = {
      date: new Date().toISOString(),
      kind: 'peer-seed',
      machine: { cores: CORES, cpu: os.cpus()[0]?.model, node: process.version, memoryGb: Math.round(os.totalmem() / 2 ** 30), postgres: pgVersion, reference: pythonVersions() },
      settings: {
        seconds: SECONDS,
        warmup: WARMUP,
        connections: CONNECTIONS,
        rounds: ROUNDS,
        workers,
        dbPool: Number(process.env.BENCH_DB_POOL ?? 20),
        logRequests: false,
        projectNotifiesPerRound: PROJECT_NOTIFIES,
        seedNotifiesPerRound: SEED_NOTIFIES,
        quiet: { maxSeconds: QUIET_MAX_S, belowCores: QUIET_BELOW },
        referenceDir: dir,
      },
      ceilings: { rsaSignPerSecond: ceilings.rsa, pgInsertPerSecond: ceilings.insert, pgUpdatePerSecond: ceilings.update },
      windows,
      summary: summaries,
      checks: { project: projectCheck, reference: seedChecks, forgedReplies },
      durationSeconds: (Date.now() - started) / 1000,
    };
    const file = writeReport(report);

    log(`\nPostgreSQL ${pgVersion} (durable) for both; ${report.machine.reference}; autocannon 9, ${CONNECTIONS} connections, ${WARMUP} s warm-up, ${SECONDS} s windows`);
    log(`ceilings: RSA-2048 sign ${Math.round(ceilings.rsa)}/s on ${CORES} cores, PostgreSQL INSERT ${Math.round(ceilings.insert)}/s, UPDATE ${Math.round(ceilings.update)}/s (16 clients)`);
    log(`\nper window (srv = the server's processes, PG = PostgreSQL's, CPU ms per request; other cores = CPU of other tenants during the window)\n${windowsTable(windows)}`);
    log(`\nmedians over ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}; project ÷ best ref = the project's req/s over the faster reference configuration's\n${summaryTable(summaries)}`);
    for (const s of summaries) log(`  ${s.workload}: ${WORKLOAD_TEXT[s.workload]}`);
    if (projectCheck) {
      log(`\nproject notify check: ${projectCheck.expected} notifies answered success, ${projectCheck.paid} orders paid (each with one status-change row); ${projectCheck.otherChanged} wrong${projectCheck.ok ? '' : '  ← FAILED'}`);
    }
    for (const [name, c] of Object.entries(seedChecks.configs)) {
      log(
        `${name} checks: pay links signed ${c.payLinks.sigOk}/${c.payLinks.links}, right order ${c.payLinks.outTradeNoOk}/${c.payLinks.links}; ` +
          `forged notify rejected ${c.forgedRejected}/${c.rounds}; ${c.expected} notifies answered, ${c.paid} orders paid, ${c.wrong} wrong${c.ok ? '' : '  ← FAILED'}`,
      );
    }
    const disturbed = windows.filter((w) => w.otherCores > OTHER_MAX).length;
    if (disturbed) log(`⚠ ${disturbed} of ${windows.length} windows had other load above ${OTHER_MAX} cores (marked ⚠): compare those with care`);
    log(`results: ${path.relative(ROOT, file)}   (${report.durationSeconds.toFixed(0)} s)`);
    if ((projectCheck && !projectCheck.ok) || !seedChecks.ok) process.exitCode = 1;
    return true;
  } finally {
    unhook();
    await cleanup();
  }
}

/**
 * The reference's notify checks (its server answers `success` whether or not the signature held, so the database
 * is what tells): every notify answered paid its order, none that was never sent did, every forged one left its
 * order unpaid, and no pay-link order changed.
 */
async function checkSeedNotifies(
  pool: Pool,
  slices: SeedSlice[],
  windows: Window[],
  payLinks: Record<string, { links: number; sigOk: number; outTradeNoOk: number }>,
): Promise<{ ok: boolean; configs: Record<string, { payLinks: { links: number; sigOk: number; outTradeNoOk: number }; rounds: number; forgedRejected: number; expected: number; paid: number; wrong: number; ok: boolean }> }> {
  const paidRows = (await pool.query<{ i: number }>(`select substr(order_sn, 3)::int as i from orders where order_sn like 'SN%' and pay_status = 'TRADE_SUCCESS'`)).rows.map((r) => r.i);
  const paid = new Set(paidRows);
  const payLinkChanged = Number((await pool.query<{ n: string }>(`select count(*)::text as n from orders where order_sn like 'SP%' and pay_status <> 'paying'`)).rows[0].n);
  const configs: Awaited<ReturnType<typeof checkSeedNotifies>>['configs'] = {};
  let ok = payLinkChanged === 0;
  for (const config of ['seed_shared', 'seed_shared_2p'] as const) {
    let forgedRejected = 0;
    let expected = 0;
    let paidCount = 0;
    let wrong = 0;
    let rounds = 0;
    for (const slice of slices.filter((s) => s.config === config)) {
      const w = windows.find((x) => x.config === config && x.workload === 'notify' && x.round === slice.round);
      if (!w) continue;
      rounds++;
      if (!paid.has(slice.offset)) forgedRejected++;
      const sent = Math.min(w.used, slice.count);
      const answered = new Set((w.answered ?? []).map((i) => slice.offset + 1 + i));
      expected += answered.size;
      wrong += [...answered].filter((i) => !paid.has(i)).length;
      const inSlice = paidRows.filter((i) => i > slice.offset && i <= slice.offset + slice.count);
      paidCount += inSlice.length;
      wrong += inSlice.filter((i) => i > slice.offset + sent).length;
    }
    const p = payLinks[config];
    const good = wrong === 0 && forgedRejected === rounds && p.sigOk === p.links && p.outTradeNoOk === p.links;
    ok &&= good;
    configs[config] = { payLinks: p, rounds, forgedRejected, expected, paid: paidCount, wrong, ok: good };
  }
  return { ok, configs };
}

