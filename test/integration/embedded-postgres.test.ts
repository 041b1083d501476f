import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { binaryCopyPath, clearLeftoverServer, locateNativeDir, privateTempBase, startEmbeddedPostgres, type RunningPostgres } from '../../src/db/embedded-postgres';

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const PROJECT = path.resolve(__dirname, '../..');

async function selectOne(pg: RunningPostgres): Promise<number> {
  const client = new Client({ connectionString: pg.url() });
  await client.connect();
  try {
    return (await client.query('select 1 as one')).rows[0].one;
  } finally {
    await client.end();
  }
}

describe('the embedded PostgreSQL launcher', () => {
  const made: string[] = [];
  const tempDir = (mode: number) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-test-epg-'));
    fs.chmodSync(dir, mode);
    fs.writeFileSync(path.join(dir, 'owner.pid'), String(process.pid)); // not a stale run's: keep it
    made.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of made) {
      for (const data of [path.join(dir, 'pg', 'data'), path.join(dir, 'data')]) await clearLeftoverServer(data).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  (asRoot ? it : it.skip)('as root, moves a data folder the postgres user cannot reach to the temp folder and says so', async () => {
    const privateDir = tempDir(0o700);
    const pg = await startEmbeddedPostgres({ root: path.join(privateDir, 'pg'), durable: false });
    try {
      expect(pg.relocatedBecause).toContain('cannot reach');
      expect(pg.root.startsWith(os.tmpdir())).toBe(true);
      made.push(pg.root);
      expect(await selectOne(pg)).toBe(1);
    } finally {
      await pg.stop();
    }
  });

  (asRoot ? it : it.skip)('as root, runs binaries that sit under a private folder from a world-readable copy', async () => {
    const privateDir = tempDir(0o700);
    const native = path.join(privateDir, 'native');
    fs.cpSync(locateNativeDir(), native, { recursive: true, verbatimSymlinks: true });
    const pg = await startEmbeddedPostgres({ root: path.join(tempDir(0o755), 'pg'), durable: false, nativeDir: native });
    made.push(binaryCopyPath(native));
    try {
      expect(fs.existsSync(path.join(binaryCopyPath(native), 'bin', 'postgres'))).toBe(true);
      expect(await selectOne(pg)).toBe(1);
    } finally {
      await pg.stop();
    }
  });

  it('stops a PostgreSQL orphaned by a killed process, then starts on the same data', async () => {
    const root = path.join(tempDir(0o755), 'pg');
    const script = `require('reflect-metadata'); const { startEmbeddedPostgres } = require('./src/db/embedded-postgres');
      startEmbeddedPostgres({ root: ${JSON.stringify(root)}, durable: false }).then((pg) => console.log('ready ' + pg.pid));`;
    const child = spawn(process.execPath, ['-r', './scripts/swc-register.js', '-e', script], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'inherit'] });
    const orphanPid = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        const m = /ready (\d+)/.exec(String(d));
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`launcher exited with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(() => process.kill(orphanPid, 0)).not.toThrow();

    const pg = await startEmbeddedPostgres({ root, durable: false });
    try {
      expect(() => process.kill(orphanPid, 0)).toThrow();
      expect(await selectOne(pg)).toBe(1);
    } finally {
      await pg.stop();
    }
  });

  it('refuses to start a second server on a data folder that a live one is using', async () => {
    const root = path.join(tempDir(0o755), 'pg');
    const pg = await startEmbeddedPostgres({ root, durable: false });
    try {
      await expect(startEmbeddedPostgres({ root, durable: false })).rejects.toThrow('already in use');
      expect(await selectOne(pg)).toBe(1);
    } finally {
      await pg.stop();
    }
  });

  it('never signals a process that a stale postmaster.pid names but that is not its server', async () => {
    const dataDir = path.join(tempDir(0o755), 'data');
    fs.mkdirSync(dataDir);
    const bystander = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(dataDir, 'postmaster.pid'), `${bystander.pid}\n${dataDir}\n`);
      await clearLeftoverServer(dataDir);
      expect(() => process.kill(bystander.pid!, 0)).not.toThrow();
      fs.writeFileSync(path.join(dataDir, 'postmaster.pid'), `${process.pid}\n`);
      await clearLeftoverServer(dataDir);
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('refuses a temp base folder that is a symlink or writable by others', () => {
    const tmp = tempDir(0o755);
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    const target = path.join(tmp, 'elsewhere');
    fs.mkdirSync(target);
    fs.symlinkSync(target, path.join(tmp, `alipay-svc-${uid}`));
    expect(() => privateTempBase(tmp)).toThrow('not a private folder');
    const open = tempDir(0o755);
    fs.mkdirSync(path.join(open, `alipay-svc-${uid}`), { mode: 0o777 });
    fs.chmodSync(path.join(open, `alipay-svc-${uid}`), 0o777);
    expect(() => privateTempBase(open)).toThrow('not a private folder');
    const fresh = tempDir(0o755);
    expect(fs.statSync(privateTempBase(fresh)).mode & 0o777).toBe(0o711);
  });
});
