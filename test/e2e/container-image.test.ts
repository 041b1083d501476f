import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { builtinModules } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/embedded-postgres';
import { migrationsList } from '../../src/db/migrations';
import { createTestDatabase, query, type TestDatabase } from '../support/db';

/**
 * The Dockerfile and compose.yaml. Where a container engine runs (`docker info` succeeds), the image is built and
 * started with compose. Everywhere, what can be checked without an engine is checked for real: the Dockerfile's
 * build stage is replayed (its COPYs into a folder of their own, `npm run build` there), the runtime stage's COPYs
 * assemble the runtime folder, and its CMD is started on the environment compose gives the app, against an empty
 * PostgreSQL database; then the HEALTHCHECK's own command is run against it.
 */

const PROJECT = path.resolve(__dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(PROJECT, file), 'utf8');
// js-yaml comes with jest (through istanbul); a test-only reader, not a dependency of the service.
const yaml = require('js-yaml') as { safeLoad(text: string): unknown };

// ---------------------------------------------------------------------------------------------- the Dockerfile

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  image: string;
  name: string | null;
  instructions: Instruction[];
}

/** Instructions (continuation lines joined, comments dropped) grouped into stages, global ARG defaults applied to FROM. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    pending += continued ? line.replace(/\\\s*$/, ' ') : line;
    if (!continued) {
      if (pending.trim()) logical.push(pending.trim());
      pending = '';
    }
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/s.exec(line)!;
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args.trim());
      if (!m) throw new Error(`unreadable FROM: ${args}`);
      const image = m[1].replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => globalArgs[name] ?? '');
      stages.push({ image, name: m[2] ?? null, instructions: [] });
    } else if (stages.length === 0) {
      if (upper !== 'ARG') throw new Error(`${upper} before the first FROM`);
      const [name, value = ''] = args.trim().split('=');
      globalArgs[name] = value;
    } else {
      stages[stages.length - 1].instructions.push({ keyword: upper, args: args.trim() });
    }
  }
  return stages;
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const last = (stage: Stage, keyword: string) => all(stage, keyword).pop();

/** COPY in shell or JSON form: its flags, sources and destination. */
function parseCopy(args: string): { from: string | null; sources: string[]; dest: string } {
  const flags: string[] = [];
  let rest = args;
  for (let m = /^(--\S+)\s+/.exec(rest); m; m = /^(--\S+)\s+/.exec(rest)) {
    flags.push(m[1]);
    rest = rest.slice(m[0].length);
  }
  const parts = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length) ?? null;
  return { from, sources: parts.slice(0, -1), dest: parts[parts.length - 1] };
}

/** `ENV K=V K2=V2` (and the legacy `ENV K V`). */
function parseEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of all(stage, 'ENV')) {
    if (!args.includes('=')) {
      const [key, ...value] = args.split(/\s+/);
      env[key] = value.join(' ');
      continue;
    }
    for (const pair of args.match(/[A-Za-z_][A-Za-z0-9_]*=("[^"]*"|\S*)/g) ?? []) {
      const [key, ...value] = pair.split('=');
      env[key] = value.join('=').replace(/^"(.*)"$/, '$1');
    }
  }
  return env;
}

/** The exec-form command of a CMD or HEALTHCHECK instruction. */
function execForm(args: string): string[] {
  const json = /(\[.*\])\s*$/s.exec(args);
  if (!json) throw new Error(`not in exec form (a JSON array): ${args}`);
  const command = JSON.parse(json[1]) as unknown;
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string')) throw new Error(`not a command: ${args}`);
  return command as string[];
}

const RUN_STEPS = (stage: Stage) => all(stage, 'RUN').flatMap((run) => run.args.split('&&').map((step) => step.trim().replace(/\s+/g, ' ')));

const stages = parseDockerfile(read('Dockerfile'));
const runtime = stages[stages.length - 1];
const WORKDIR = last(runtime, 'WORKDIR')?.args ?? '/';
const stageNamed = (name: string) => stages.find((s) => s.name === name) ?? stages[Number(name)];

// ------------------------------------------------------------------------------------------------ compose.yaml

/** Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}. */
function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, dollar, name, op, arg, bare) => {
    if (dollar) return '$';
    if (bare) return vars[bare] ?? '';
    const value = vars[name];
    const unset = op?.startsWith(':') ? !value : value === undefined;
    switch (op?.replace(':', '')) {
      case '-':
        return unset ? arg : value!;
      case '?':
        if (unset) throw new Error(`required variable ${name} is missing a value: ${arg}`);
        return value!;
      case '+':
        return unset ? '' : arg;
      default:
        return value ?? '';
    }
  });
}

function interpolateAll(node: unknown, vars: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, vars);
  if (Array.isArray(node)) return node.map((n) => interpolateAll(n, vars));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, vars)]));
  return node;
}

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number | null> | string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string };
}
const composeText = read('compose.yaml');
const composeRaw = yaml.safeLoad(composeText) as { services: Record<string, ComposeService> };

/** The environment compose gives a service: its `environment`, as a mapping of strings. */
function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((pair) => [pair.split('=')[0], pair.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** What an operator trying the image locally sets: the local Alipay in production, on purpose (README). */
const TRIAL = {
  POSTGRES_PASSWORD: `pw${randomBytes(8).toString('hex')}`,
  ALIPAY_GATEWAY: 'sandbox',
  SANDBOX_IN_PRODUCTION: 'true',
  SANDBOX_CONTROL_TOKEN: randomBytes(24).toString('hex'),
  JWT_SECRET: randomBytes(24).toString('hex'),
};
const compose = (vars: Record<string, string | undefined>) => interpolateAll(composeRaw, vars) as { services: Record<string, ComposeService> };

// --------------------------------------------------------------------------------------------------- processes

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs a command to its end (killed after `timeoutMs`), collecting its output. */
function run(command: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command[0], command.slice(1), { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, output: `${output}${err.message}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

const seconds = (text: string | undefined, fallback: number) => (text ? Number(/^([0-9.]+)s$/.exec(text)?.[1] ?? fallback) : fallback) * 1000;

function dockerEngine(): { ok: true } | { ok: false; reason: string } {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 });
  if (info.error) return { ok: false, reason: `no docker CLI (${(info.error as NodeJS.ErrnoException).code})` };
  if (info.status !== 0) return { ok: false, reason: `\`docker info\` fails: ${(info.stderr || info.stdout).trim().split('\n').pop()}` };
  return { ok: true };
}

// ========================================================================================== checks of the files

describe('the Dockerfile', () => {
  it('builds in a stage of its own from a Node 20+ image: npm 11 pinned, npm ci under the install-script policy, npm run build, dev dependencies pruned', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const copiedFrom = all(runtime, 'COPY').map((c) => parseCopy(c.args)).filter((c) => c.from !== null);
    const nodeModules = copiedFrom.find((c) => c.sources.some((s) => path.posix.basename(s) === 'node_modules'));
    expect(nodeModules).toBeDefined();
    const build = stageNamed(nodeModules!.from!);
    expect(build).toBeDefined();
    expect(build).not.toBe(runtime);

    const steps = RUN_STEPS(build);
    const upgrade = steps.findIndex((s) => /^npm (install|i) -g npm@[0-9]+\.[0-9]+\.[0-9]+$/.test(s));
    const ci = steps.indexOf('npm ci --strict-allow-scripts');
    const compile = steps.indexOf('npm run build');
    const prune = steps.indexOf('npm prune --omit=dev');
    // Node 20's bundled npm 10 ignores package.json "allowScripts": npm must be 11 before npm ci.
    expect(upgrade).toBeGreaterThanOrEqual(0);
    expect(Number(/npm@([0-9]+)/.exec(steps[upgrade])![1])).toBeGreaterThanOrEqual(11);
    expect(ci).toBeGreaterThan(upgrade);
    expect(compile).toBeGreaterThan(ci);
    expect(prune).toBeGreaterThan(compile);
    expect(steps.join('\n')).not.toMatch(/--ignore-scripts|--dangerously-allow-all-scripts|--allow-scripts/);

    for (const stage of stages) {
      const m = /^node:([0-9]+)[.-]/.exec(stage.image);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(Number(/>=\s*([0-9]+)/.exec(JSON.parse(read('package.json')).engines.node)![1]));
    }
  });

  it('runs as a non-root user in production mode, listening on all interfaces, with a writable DATA_DIR', () => {
    const user = last(runtime, 'USER')?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    // Nothing after USER switches back or runs as root.
    const afterUser = runtime.instructions.slice(runtime.instructions.findIndex((i) => i.keyword === 'USER'));
    expect(afterUser.filter((i) => i.keyword === 'RUN')).toEqual([]);
    const env = parseEnv(runtime);
    expect(env).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
    const dataDir = path.posix.resolve(WORKDIR, env.DATA_DIR ?? '.data');
    expect(RUN_STEPS(runtime)).toContain(`chown ${user!.includes(':') ? user : `${user}:${user}`} ${dataDir}`);
    expect(all(runtime, 'EXPOSE').map((e) => e.args)).toContain(env.PORT ?? '4000');
  });

  it('has a HEALTHCHECK that asks /readyz with node (no curl in slim images) and a CMD that runs node on the build', () => {
    const healthcheck = last(runtime, 'HEALTHCHECK');
    expect(healthcheck).toBeDefined();
    const probe = execForm(healthcheck!.args);
    expect(probe[0]).toBe('node');
    expect(probe.join(' ')).toContain('/readyz');
    const cmd = execForm(last(runtime, 'CMD')!.args);
    expect(cmd[0]).toBe('node');
    expect(cmd[cmd.length - 1]).toMatch(/^dist\/.+\.js$/);
    expect(all(runtime, 'ENTRYPOINT')).toEqual([]);
  });

  it('keeps installed and built output, local data, .git and .env files out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.data', '.git', '.env', '.env.*']) expect(ignored).toContain(entry);
    // And nothing the build stage copies is ignored.
    const buildCopies = stages.flatMap((s) => all(s, 'COPY').map((c) => parseCopy(c.args)).filter((c) => c.from === null));
    for (const source of buildCopies.flatMap((c) => c.sources)) expect(ignored).not.toContain(source.replace(/^\.\//, '').replace(/\/$/, ''));
  });
});

describe('compose.yaml', () => {
  it('runs the app from this Dockerfile after a healthy PostgreSQL of the major version the tests run on, with persistent volumes', () => {
    const { postgres, app } = compose(TRIAL).services;
    expect(postgres).toBeDefined();
    expect(app).toBeDefined();
    expect(app.build === '.' || (app.build as { context?: string })?.context === '.').toBe(true);
    expect(app.depends_on).toEqual({ postgres: expect.objectContaining({ condition: 'service_healthy' }) });
    expect(JSON.stringify(postgres.healthcheck?.test)).toContain('pg_isready');
    const embedded = JSON.parse(read('package.json')).dependencies['embedded-postgres'] as string;
    expect(/^postgres:([0-9]+)/.exec(postgres.image ?? '')?.[1]).toBe(/^([0-9]+)\./.exec(embedded)![1]);
    // PostgreSQL 18+ images keep data under /var/lib/postgresql/<major>/docker; a mount at …/data is refused.
    expect(postgres.volumes?.some((v) => /^[\w-]+:\/var\/lib\/postgresql$/.test(v))).toBe(true);
    const dataDir = path.posix.resolve(WORKDIR, parseEnv(runtime).DATA_DIR ?? '.data');
    expect(app.volumes?.some((v) => v.endsWith(`:${dataDir}`))).toBe(true);
    expect(app.ports?.some((p) => p.endsWith(`:${parseEnv(runtime).PORT ?? 4000}`))).toBe(true);
  });

  it('points DATABASE_URL at the postgres service with its user, password and database', () => {
    const { postgres, app } = compose(TRIAL).services;
    const pg = environmentOf(postgres);
    const url = new URL(environmentOf(app).DATABASE_URL);
    expect(url.protocol).toMatch(/^postgres(ql)?:$/);
    expect({ host: url.hostname, user: url.username, password: url.password, db: url.pathname.slice(1) }).toEqual({
      host: 'postgres',
      user: pg.POSTGRES_USER,
      password: TRIAL.POSTGRES_PASSWORD,
      db: pg.POSTGRES_DB,
    });
    expect(environmentOf(app).NODE_ENV).toBe('production');
  });

  it('refuses to start without the database password or ALIPAY_GATEWAY, and gives no secret a default', () => {
    const { POSTGRES_PASSWORD: _pw, ...noPassword } = TRIAL;
    const { ALIPAY_GATEWAY: _gw, ...noGateway } = TRIAL;
    expect(() => compose(noPassword)).toThrow(/POSTGRES_PASSWORD/);
    expect(() => compose(noGateway)).toThrow(/ALIPAY_GATEWAY/);
    expect(() => compose({ ...TRIAL, ALIPAY_GATEWAY: '' })).toThrow(/ALIPAY_GATEWAY/);
    const defaults = [...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]+)\}/g)].map((m) => m[1]);
    expect(defaults.filter((name) => /SECRET|TOKEN|KEY|PASSWORD/.test(name))).toEqual([]);
  });
});

// ============================================================= the image's build and CMD, replayed on this machine

describe("the Dockerfile's build and CMD, replayed without a container engine", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-image-'));
  const buildRoot = path.join(tmp, 'build');
  const runtimeRoot = path.join(tmp, 'runtime');
  const inStage = (root: string, containerPath: string) => path.join(root, containerPath);
  let database: TestDatabase | undefined;
  let service: ChildProcess | undefined;
  let output = '';
  let exited: Promise<Ran> | undefined;
  let env: NodeJS.ProcessEnv = {};
  let port = 0;
  let buildOutput = '';
  const cwd = inStage(runtimeRoot, WORKDIR);
  const base = () => `http://127.0.0.1:${port}`;

  /** Replays one stage: WORKDIR, COPY, and the RUN steps this test knows; anything else fails loudly. */
  async function replay(stage: Stage, root: string): Promise<void> {
    let workdir = '/';
    for (const instruction of stage.instructions) {
      if (instruction.keyword === 'WORKDIR') {
        workdir = path.posix.resolve(workdir, instruction.args);
        fs.mkdirSync(inStage(root, workdir), { recursive: true });
      } else if (instruction.keyword === 'COPY') {
        const copy = parseCopy(instruction.args);
        const fromRoot = copy.from === null ? PROJECT : buildRoot;
        if (copy.from !== null && stageNamed(copy.from) === stage) throw new Error('a stage copies from itself');
        const dest = path.posix.resolve(workdir, copy.dest);
        const intoDir = copy.dest.endsWith('/') || copy.sources.length > 1;
        for (const source of copy.sources) {
          const from = copy.from === null ? path.join(fromRoot, source) : inStage(fromRoot, path.posix.resolve('/', source));
          const stat = fs.lstatSync(from);
          const target = inStage(root, intoDir && !stat.isDirectory() ? path.posix.join(dest, path.posix.basename(source)) : dest);
          fs.mkdirSync(path.dirname(target), { recursive: true });
          // A directory's contents go into the destination, as Docker copies them; a symlink stays one.
          fs.cpSync(from, target, { recursive: true, verbatimSymlinks: true });
        }
      } else if (instruction.keyword === 'RUN') {
        for (const step of instruction.args.split('&&').map((s) => s.trim().replace(/\s+/g, ' '))) {
          const here = inStage(root, workdir);
          if (/^npm (install|i) -g npm@/.test(step)) continue; // this machine's npm runs the steps below
          else if (step === 'npm ci --strict-allow-scripts') {
            // The project's node_modules, installed the same way (.ci/run), stands in for a fresh install.
            fs.symlinkSync(path.join(PROJECT, 'node_modules'), path.join(here, 'node_modules'));
          } else if (step === 'npm run build') {
            const built = await run(['npm', 'run', 'build'], { cwd: here, env: process.env, timeoutMs: 240_000 });
            buildOutput = built.output;
            if (built.code !== 0) throw new Error(`npm run build failed in the build stage's files:\n${built.output}`);
          } else if (step === 'npm prune --omit=dev') {
            continue; // the shared node_modules is not pruned; the test on runtime imports covers what pruning drops
          } else if (/^mkdir -p \S+$/.test(step)) {
            fs.mkdirSync(inStage(root, path.posix.resolve(workdir, step.split(' ')[2])), { recursive: true });
          } else if (/^chown \S+ \S+$/.test(step)) {
            continue; // checked above: DATA_DIR belongs to the USER
          } else {
            throw new Error(`this test does not know how to replay the Dockerfile step \`${step}\`: teach it`);
          }
        }
      } else if (!['ENV', 'ARG', 'USER', 'EXPOSE', 'HEALTHCHECK', 'CMD', 'LABEL', 'STOPSIGNAL'].includes(instruction.keyword)) {
        throw new Error(`this test does not know how to replay ${instruction.keyword}: teach it`);
      }
    }
  }

  /** The container's environment: the image's ENV, then compose's `environment` (it wins), with paths and ports mapped. */
  function containerEnv(): NodeJS.ProcessEnv {
    const image = parseEnv(runtime);
    const app = environmentOf(compose(TRIAL).services.app);
    // Empty values stay: compose passes `${VAR:-}` as an empty variable, which the configuration reads as unset.
    const merged: Record<string, string> = { ...image, ...app };
    return {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      HOME: os.tmpdir(),
      LANG: 'C.UTF-8',
      ...merged,
      // What differs on a shared machine: the port (4000 may be taken), the database host and the container's paths.
      PORT: String(port),
      DATABASE_URL: database!.url,
      DATA_DIR: inStage(runtimeRoot, path.posix.resolve(WORKDIR, merged.DATA_DIR ?? '.data')),
      LOG_LEVEL: 'warn',
    };
  }

  const healthcheck = () => {
    const instruction = last(runtime, 'HEALTHCHECK')!;
    const timeout = seconds(/--timeout=(\S+)/.exec(instruction.args)?.[1], 30);
    return run(execForm(instruction.args), { cwd, env, timeoutMs: timeout });
  };

  beforeAll(async () => {
    const buildStage = stages.find((s) => RUN_STEPS(s).includes('npm run build'))!;
    await replay(buildStage, buildRoot);
    await replay(runtime, runtimeRoot);

    database = await createTestDatabase({ empty: true }); // as compose's fresh PostgreSQL: nothing migrated yet
    port = await freePort();
    env = containerEnv();
    const command = execForm(last(runtime, 'CMD')!.args);
    service = spawn(command[0] === 'node' ? process.execPath : command[0], command.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    service.stdout!.on('data', (d) => (output += d));
    service.stderr!.on('data', (d) => (output += d));
    const child = service;
    exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, output })));
  }, 300_000);

  afterAll(async () => {
    if (service && service.exitCode === null && service.signalCode === null) {
      service.kill('SIGKILL');
      await exited;
    }
    await database?.drop().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("compiles from the build stage's files alone, and the CMD's entry file is in the runtime stage", () => {
    const cmd = execForm(last(runtime, 'CMD')!.args);
    expect(fs.existsSync(path.join(cwd, cmd[cmd.length - 1]))).toBe(true);
    // The build's output folder is the one the runtime stage copies.
    const outDir = JSON.parse(read('tsconfig.json')).compilerOptions.outDir as string;
    const buildStage = stages.find((s) => RUN_STEPS(s).includes('npm run build'))!;
    const buildDir = path.posix.resolve(last(buildStage, 'WORKDIR')?.args ?? '/', outDir);
    const copies = all(runtime, 'COPY').map((c) => parseCopy(c.args));
    expect(copies.some((c) => c.from !== null && stageNamed(c.from) === buildStage && c.sources.includes(buildDir))).toBe(true);
    expect(buildOutput).not.toMatch(/error TS/);
  });

  it('needs at runtime only Node built-ins and packages a production install keeps', () => {
    const dist = path.join(cwd, 'dist');
    const deps = new Set(Object.keys(JSON.parse(read('package.json')).dependencies as Record<string, string>));
    const builtins = new Set(builtinModules);
    const needed = new Set<string>();
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith('.js')) {
          for (const m of fs.readFileSync(file, 'utf8').matchAll(/\b(?:require|require\.resolve|import)\(\s*["']([^"'.][^"']*)["']\s*\)/g)) {
            const spec = m[1].replace(/^node:/, '');
            const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
            if (!builtins.has(spec) && !builtins.has(pkg)) needed.add(pkg);
          }
        }
      }
    };
    walk(dist);
    expect(needed.size).toBeGreaterThan(5);
    expect([...needed].filter((pkg) => !deps.has(pkg)).sort()).toEqual([]);
  });

  it("starts on compose's environment, migrates the empty database and answers /readyz", async () => {
    const until = Date.now() + 90_000;
    let status = 0;
    while (Date.now() < until && service!.exitCode === null) {
      status = await fetch(`${base()}/readyz`).then((r) => r.status, () => 0);
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (status !== 200) throw new Error(`the CMD did not answer /readyz with 200 (last: ${status}, exit ${service!.exitCode}):\n${output}`);
    const applied = await query<{ name: string }>(database!.url, 'select name from mikro_orm_migrations order by id');
    expect(applied.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
    expect(output).not.toMatch(/embedded PostgreSQL started/);
  }, 120_000);

  it('serves GraphQL from the build: an order and a pay link on the local Alipay, which production runs here on purpose', async () => {
    // The README's trial signs a token inside the container with the image's own node_modules: the same line here.
    const readme = /docker compose exec -T app node -e "([^"]+)"/.exec(read('README.md'));
    expect(readme).not.toBeNull();
    const minted = await run(['node', '-e', readme![1]], { cwd, env, timeoutMs: 30_000 });
    expect(minted.code).toBe(0);
    const token = minted.output.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const gql = async (q: string, variables: Record<string, unknown> = {}) =>
      (await (
        await fetch(`${base()}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: q, variables }),
        })
      ).json()) as { data?: any; errors?: unknown[] };
    const created = await gql('mutation { createOrder(input: { amount: "0.01", subject: "container trial" }) { id status } }');
    expect(created.errors).toBeUndefined();
    expect(created.data.createOrder.status).toBe('WAIT_BUYER_PAY');
    const link = await gql('mutation($id: ID!) { generatePayLink(orderId: $id) { url } }', { id: created.data.createOrder.id });
    expect(link.errors).toBeUndefined();
    expect(link.data.generatePayLink.url).toMatch(/\/sandbox\/alipay\/gateway\.do\?/);
    // Production: the demo route of development is not there, and the local Alipay's console needs the control token.
    expect((await fetch(`${base()}/dev/demo-payment`)).status).toBe(404);
    expect((await fetch(`${base()}/sandbox/alipay/`)).status).toBe(401);
  });

  it('passes the HEALTHCHECK while it serves, stops with exit code 0 on SIGTERM, and then fails the HEALTHCHECK', async () => {
    const healthy = await healthcheck();
    expect({ code: healthy.code, output: healthy.output }).toEqual({ code: 0, output: '' });

    service!.kill('SIGTERM');
    const timer = setTimeout(() => service!.kill('SIGKILL'), 30_000);
    const end = await exited!;
    clearTimeout(timer);
    expect({ code: end.code, signal: end.signal }).toEqual({ code: 0, signal: null });

    const after = await healthcheck();
    expect(after.code).toBe(1);
  }, 60_000);
});

// ================================================================================= the image, under an engine

describe('the image under a container engine', () => {
  const engine = dockerEngine();
  if (!engine.ok) {
    console.warn(`container-image: the image itself is not built or run here: ${engine.reason}. The Dockerfile's build and CMD are replayed instead.`);
  }
  const withEngine = engine.ok ? it : it.skip;
  const project = `alipaytest${randomBytes(4).toString('hex')}`;
  const envFile = path.join(os.tmpdir(), `${project}.env`);
  let env: NodeJS.ProcessEnv = {};
  const dockerCompose = (args: string[], timeoutMs = 120_000) =>
    run(['docker', 'compose', '--project-name', project, '--env-file', envFile, '-f', path.join(PROJECT, 'compose.yaml'), ...args], {
      cwd: PROJECT,
      env,
      timeoutMs,
    });

  afterAll(async () => {
    if (!engine.ok) return;
    await dockerCompose(['down', '--volumes', '--rmi', 'local', '--remove-orphans'], 180_000);
    fs.rmSync(envFile, { force: true });
  }, 200_000);

  withEngine(`builds with compose, turns healthy, answers /readyz, runs as non-root and stops with exit code 0${engine.ok ? '' : ` (skipped: ${engine.reason})`}`, async () => {
    const hostPort = await freePort();
    fs.writeFileSync(envFile, ''); // not the project's .env: only what this test sets
    env = { ...process.env, ...TRIAL, APP_PUBLISH: `127.0.0.1:${hostPort}` };
    const up = await dockerCompose(['up', '--build', '--detach', '--wait', '--wait-timeout', '300'], 900_000);
    if (up.code !== 0) throw new Error(`docker compose up failed:\n${up.output}\n${(await dockerCompose(['logs', '--no-color'])).output}`);

    const container = (await dockerCompose(['ps', '--quiet', 'app'])).output.trim();
    const health = await run(['docker', 'inspect', '--format', '{{.State.Health.Status}}', container], { cwd: PROJECT, env, timeoutMs: 30_000 });
    expect(health.output.trim()).toBe('healthy');
    expect((await fetch(`http://127.0.0.1:${hostPort}/readyz`)).status).toBe(200);
    const uid = await dockerCompose(['exec', '-T', 'app', 'id', '-u']);
    expect(uid.code).toBe(0);
    expect(uid.output.trim()).not.toBe('0');

    expect((await dockerCompose(['stop', 'app'], 60_000)).code).toBe(0);
    const exit = await run(['docker', 'inspect', '--format', '{{.State.ExitCode}}', container], { cwd: PROJECT, env, timeoutMs: 30_000 });
    expect(exit.output.trim()).toBe('0');
  }, 1_000_000);
});
