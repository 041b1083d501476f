import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/embedded-postgres';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { startTestServer, testSecrets, type TestServer } from '../support/server';

const PROJECT = path.resolve(__dirname, '../..');

describe('npm run sandbox: the local Alipay on its own port, used by a service as its gateway', () => {
  let sandbox: ChildProcess;
  let sandboxUrl: string;
  let sandboxDb: TestDatabase;
  let service: TestServer;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-sandbox-'));

  beforeAll(async () => {
    sandboxDb = await createTestDatabase();
    const port = await freePort();
    sandboxUrl = `http://127.0.0.1:${port}`;
    sandbox = spawn(process.execPath, ['-r', './scripts/swc-register.js', 'src/sandbox/sandbox.main.ts'], {
      cwd: PROJECT,
      env: { PATH: process.env.PATH, SANDBOX_PORT: String(port), DATABASE_URL: sandboxDb.url, DATA_DIR: dataDir, SANDBOX_TIME_SCALE: '0.0001', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    sandbox.stdout!.on('data', (d) => (out += d));
    sandbox.stderr!.on('data', (d) => (out += d));
    await waitFor('the sandbox banner', async () => out.includes('Local Alipay gateway:'), 30_000).catch((err) => {
      throw new Error(`${err.message}\n${out}`);
    });

    const appPublicKey = createPublicKey(testSecrets().appPrivateKeyPem).export({ format: 'pem', type: 'spki' }).toString();
    const registered = await fetch(`${sandboxUrl}/sandbox/alipay/apps/2021000000000042`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ publicKey: appPublicKey }),
    });
    expect(registered.status).toBe(200);
    const alipayPublicKey = await (await fetch(`${sandboxUrl}/sandbox/alipay/public-key`)).text();
    service = await startTestServer({
      ALIPAY_GATEWAY: `${sandboxUrl}/sandbox/alipay/gateway.do`,
      ALIPAY_APP_ID: '2021000000000042',
      ALIPAY_APP_PRIVATE_KEY: testSecrets().appPrivateKeyPem,
      ALIPAY_PUBLIC_KEY: alipayPublicKey,
    });
  }, 60_000);

  afterAll(async () => {
    await service?.close();
    if (sandbox && sandbox.exitCode === null) {
      sandbox.kill('SIGTERM');
      await new Promise((r) => sandbox.once('exit', r));
    }
    await sandboxDb?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('takes a payment end to end: the service signs, the standalone cashier takes it, the notify comes back', async () => {
    const token = await service.token('olga');
    const order = (await service.gql(`mutation { createOrder(input: { amount: "15.00", subject: "standalone" }) { id } }`, {}, token)).data!.createOrder;
    const link = (await service.gql(`mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`, { id: order.id }, token)).data!.generatePayLink;
    expect(link.url.startsWith(`${sandboxUrl}/sandbox/alipay/gateway.do?`)).toBe(true);
    await pressPay((await openCashier(link.url)).cashierUrl);
    await waitFor('paid', async () => (await service.gql(`query($id: ID!) { order(id: $id) { status } }`, { id: order.id }, token)).data!.order.status === 'TRADE_SUCCESS');
    const synced = await service.gql(`mutation($id: ID!) { syncOrder(orderId: $id) { status } }`, { id: order.id }, token);
    expect(synced.data!.syncOrder.status).toBe('TRADE_SUCCESS');
  });

  it('refuses to register an app with a malformed id or key', async () => {
    for (const [appId, body] of [
      ['123', { publicKey: 'x' }],
      ['2021000000000043', { publicKey: 'not a key!' }],
      ['2021000000000043', { publicKey: createPublicKey(testSecrets().appPrivateKeyPem).export({ format: 'pem', type: 'spki' }).toString(), signType: 'SM2' }],
    ] as const) {
      const res = await fetch(`${sandboxUrl}/sandbox/alipay/apps/${appId}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(400);
    }
  });

  it('stops at boot with the variable and the problem when its configuration is bad, and takes no arguments', () => {
    const run = (env: Record<string, string>, args: string[] = []) =>
      spawnSync(process.execPath, ['-r', './scripts/swc-register.js', 'src/sandbox/sandbox.main.ts', ...args], {
        cwd: PROJECT,
        env: { PATH: process.env.PATH, DATA_DIR: dataDir, ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const bad = run({ SANDBOX_PORT: '99999', SANDBOX_TIME_SCALE: '2' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('SANDBOX_PORT');
    expect(bad.stderr).toContain('SANDBOX_TIME_SCALE');
    expect(run({}, ['--port', '1']).status).toBe(2);
  });
});
