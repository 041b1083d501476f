import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { clearLeftoverServer, isAlive, freePort } from '../../src/db/embedded-postgres';
import { createTestDatabase, query } from '../support/db';

const PROJECT = path.resolve(__dirname, '../..');
const REGISTER = path.join(PROJECT, 'scripts/swc-register.js');

/** The environment of a machine with nothing configured: no DATABASE_URL, no keys, no secrets. */
function bareEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...extra };
}

interface Started {
  child: ChildProcess;
  output: () => string;
  token: string;
}

/** `npm start` as a user runs it (the same command line), resolved once the banner with the token is printed. */
function startService(env: NodeJS.ProcessEnv): Promise<Started> {
  const child = spawn(process.execPath, ['--enable-source-maps', '-r', REGISTER, 'src/main.ts'], { cwd: PROJECT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 60 s:\n${out}`)), 60_000);
    child.stdout!.on('data', () => {
      const match = /export TOKEN=(\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, output: () => out, token: match[1] });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before the banner:\n${out}`));
    });
  });
}

function exitOf(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error('did not exit in time')), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}


describe('npm start on a machine with nothing configured', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-start-'));
  const children: ChildProcess[] = [];
  let port: number;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    fs.chmodSync(dataDir, 0o755); // as a project folder is; a private one is covered in embedded-postgres.test.ts
    port = await freePort();
    env = bareEnv({ DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await clearLeftoverServer(path.join(dataDir, 'postgres', 'data')).catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const gql = async (token: string, query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data: any; errors?: unknown[] };
  };

  it('boots an embedded PostgreSQL, serves, takes a dev:notify payment, stops cleanly and reuses its data on restart', async () => {
    const first = await startService(env);
    children.push(first.child);
    expect(first.output()).toContain(`GraphQL:  http://127.0.0.1:${port}/graphql`);

    const created = await gql(first.token, 'mutation { createOrder(input: { amount: "88.88", subject: "walk-through" }) { id orderNo status } }');
    expect(created.errors).toBeUndefined();
    const { orderNo, id } = created.data.createOrder;

    const devNotify = (...args: string[]) =>
      spawnSync(process.execPath, ['-r', REGISTER, 'src/dev/notify.cli.ts', orderNo, ...args], { cwd: PROJECT, env, encoding: 'utf8', timeout: 30_000 });
    const notify = devNotify();
    expect(notify.stdout).toContain('→ 200 success');
    expect(notify.status).toBe(0);
    const paid = await gql(first.token, 'query($id: ID!) { order(id: $id) { status amount tradeNo events { type note } } }', { id });
    expect(paid.data.order).toMatchObject({ status: 'TRADE_SUCCESS', amount: '88.88' });
    const callbacks = () =>
      gql(first.token, 'query($id: ID!) { order(id: $id) { tradeNo events { type note } } }', { id }).then((r) =>
        (r.data.order.events as Array<{ type: string; note: string }>).filter((e) => e.type === 'CALLBACK').map((e) => e.note),
      );

    // A failed second start (its port and database are taken) leaves the running server's runtime.json alone.
    const runtime = fs.readFileSync(path.join(dataDir, 'runtime.json'), 'utf8');
    const clash = spawnSync(process.execPath, ['-r', REGISTER, 'src/main.ts'], { cwd: PROJECT, env, encoding: 'utf8', timeout: 60_000 });
    expect(clash.status).not.toBe(0);
    expect(fs.readFileSync(path.join(dataDir, 'runtime.json'), 'utf8')).toBe(runtime);

    // Sent twice, it is the same payment: the resend is a duplicate, and no alert.
    expect(devNotify().stdout).toContain(`trade ${paid.data.order.tradeNo}) → 200 success`);
    expect((await callbacks()).pop()).toMatch(/^TRADE_SUCCESS · DUPLICATE/);
    // --resend repeats the last recorded notify byte for byte: same notify_id, so a duplicate at once.
    const resend = devNotify('--resend');
    expect(resend.stdout).toContain('again) → 200 success');
    expect((await callbacks()).pop()).toBe('TRADE_SUCCESS · DUPLICATE · notify_id already processed');
    // --trade-no another: a second payment on purpose, which the order does not take.
    expect(devNotify('--trade-no', '2026112522001499999999999999').stdout).toContain('→ 200 success');
    expect((await callbacks()).pop()).toMatch(/REFUSED · payment exception: .*paid twice/);
    expect((await gql(first.token, 'query($id: ID!) { order(id: $id) { tradeNo } }', { id })).data.order.tradeNo).toBe(paid.data.order.tradeNo);
    expect(first.output()).not.toMatch(/PAYMENT EXCEPTION.*2026112522001400|NEEDS ATTENTION/);

    const pidFile = path.join(dataDir, 'postgres', 'data', 'postmaster.pid');
    const pgPid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    expect(isAlive(pgPid)).toBe(true);
    first.child.kill('SIGTERM');
    expect(await exitOf(first.child, 30_000)).toBe(0);
    expect(isAlive(pgPid)).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'runtime.json'))).toBe(false);

    const second = await startService(env);
    children.push(second.child);
    const again = await gql(second.token, 'query($id: ID!) { order(id: $id) { status orderNo } }', { id });
    expect(again.data.order).toEqual({ status: 'TRADE_SUCCESS', orderNo });
    second.child.kill('SIGINT');
    expect(await exitOf(second.child, 30_000)).toBe(0);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('stops node and PostgreSQL when %s reaches the npm start process itself', async (signal) => {
    const child = spawn('npm', ['start', '--silent'], { cwd: PROJECT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const until = Date.now() + 60_000;
    while (!/export TOKEN=/.test(out)) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`npm start did not come up:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pgPid = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(isAlive(pgPid)).toBe(true);
    const nodePids = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    expect(nodePids.length).toBeGreaterThan(0);
    try {
      child.kill(signal);
      await exitOf(child, 20_000);
      const gone = Date.now() + 10_000;
      while (isAlive(pgPid) && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
      expect(isAlive(pgPid)).toBe(false);
      expect(nodePids.filter(isAlive)).toEqual([]);
    } finally {
      // If the signal did not get through, stop what it left so the next test finds a free port and data folder.
      for (const pid of nodePids.filter(isAlive)) process.kill(pid, 'SIGTERM');
      const until = Date.now() + 10_000;
      while (nodePids.some(isAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    }
    expect((await fetch(`http://127.0.0.1:${port}/healthz`).then(() => 'up', () => 'down'))).toBe('down');
  });

  it('stops at boot with the variable name and the problem when the configuration is bad', () => {
    const out = spawnSync(process.execPath, ['-r', REGISTER, 'src/main.ts'], {
      cwd: PROJECT,
      env: bareEnv({ DATA_DIR: dataDir, PORT: 'eighty', ALIPAY_PUBLIC_KEY: 'not a key!' }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('PORT: must be a whole number');
    expect(out.stderr).toContain('ALIPAY_PUBLIC_KEY:');
    expect(out.stderr).not.toContain('not a key!');
  });

  it.each([
    ['a real gateway with NODE_ENV unset and no JWT key', { ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do', ALIPAY_APP_ID: '2021000000000001' }, 'JWT_SECRET: one of'],
    ['the local Alipay in production without SANDBOX_IN_PRODUCTION and a control token', { NODE_ENV: 'production', ALIPAY_GATEWAY: 'sandbox', JWT_SECRET: 'j'.repeat(40) }, 'SANDBOX_IN_PRODUCTION=true'],
  ])('refuses to start with %s, and prints no token', (_label, extra, message) => {
    const out = spawnSync(process.execPath, ['-r', REGISTER, 'src/main.ts'], { cwd: PROJECT, env: bareEnv({ DATA_DIR: dataDir, PORT: String(port), ...extra }), encoding: 'utf8', timeout: 30_000 });
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(message);
    expect(`${out.stdout}${out.stderr}`).not.toMatch(/Bearer ey|export TOKEN/);
  });

  describe('failures that name their cause', () => {
    const run = (args: string[], extra: Record<string, string>) =>
      spawnSync(process.execPath, ['-r', REGISTER, 'src/main.ts', ...args], {
        cwd: PROJECT,
        env: bareEnv({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', JWT_SECRET: 'j'.repeat(40), ...extra }),
        encoding: 'utf8',
        timeout: 60_000,
      });

    it.each([[[]], [['--check-config']]])('names DATABASE_URL and the unreachable host:port, never the password (args %j)', (args) => {
      const out = run(args, { DATABASE_URL: 'postgres://app:s3cret-pw@127.0.0.1:1/shop', PORT: String(port) });
      expect(out.status).toBe(1);
      expect(out.stderr).toContain('DATABASE_URL: cannot connect to 127.0.0.1:1 (ECONNREFUSED)');
      expect(`${out.stdout}${out.stderr}`).not.toContain('s3cret-pw');
    });

    it('names a database that does not exist, and does not create it', async () => {
      const url = new URL(process.env.TEST_PG_URL!);
      url.pathname = '/no_such_shop_db';
      for (const args of [[], ['--check-config']]) {
        const out = run(args, { DATABASE_URL: url.toString(), PORT: String(port) });
        expect(out.status).toBe(1);
        expect(out.stderr).toContain('DATABASE_URL: database "no_such_shop_db" does not exist');
      }
      expect(await query(process.env.TEST_PG_URL!, `select 1 from pg_database where datname = 'no_such_shop_db'`)).toEqual([]);
    });

    it('says which PORT is taken, without a WebSocket stack', async () => {
      const db = await createTestDatabase();
      const blocker = net.createServer();
      await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
      try {
        const taken = (blocker.address() as net.AddressInfo).port;
        const out = run([], { DATABASE_URL: db.url, PORT: String(taken), JOBS_ENABLED: 'false' });
        expect(out.status).toBe(1);
        expect(out.stderr).toContain(`PORT ${taken} on 127.0.0.1 is already in use`);
        expect(`${out.stdout}${out.stderr}`).not.toMatch(/Internal error emitted on the WebSocket server|    at /);
      } finally {
        blocker.close();
        await db.drop();
      }
    });
  });

  it('validates the configuration with --check-config, and refuses unknown flags', () => {
    const ok = spawnSync(process.execPath, ['-r', REGISTER, 'src/main.ts', '--check-config'], { cwd: PROJECT, env, encoding: 'utf8', timeout: 30_000 });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('Configuration is valid');
    expect(ok.stdout).not.toMatch(/PRIVATE KEY|secret":/);
    const bad = spawnSync(process.execPath, ['-r', REGISTER, 'src/main.ts', '--port=1'], { cwd: PROJECT, env, encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown argument: --port=1');
  });

  it('has dev:notify refuse bad arguments and explain when no service is running', () => {
    const run = (args: string[]) => spawnSync(process.execPath, ['-r', REGISTER, 'src/dev/notify.cli.ts', ...args], { cwd: PROJECT, env, encoding: 'utf8', timeout: 30_000 });
    for (const [args, message] of [
      [[], 'ORDER is required'],
      [['a', 'b'], 'give one ORDER only'],
      [['x;rm -rf /'], 'ORDER must be'],
      [['x', '--status', 'PAID'], '--status must be one of'],
      [['x', '--url', 'file:///etc/passwd'], '--url must be an http(s) URL'],
      [['x', '--evil'], 'unknown option'],
      [['x', '--status'], '--status needs a value'],
    ] as const) {
      const out = run([...args]);
      expect(out.status).toBe(2);
      expect(out.stderr).toContain(message);
    }
    const none = run(['20261125000000000000']);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('start it with `npm start`');
  });
});
