import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { devSecretsPath } from '../../src/dev/dev-secrets';
import { query } from '../support/db';
import { startTestServer, testSecrets, type TestServer } from '../support/server';

const PROJECT = path.resolve(__dirname, '../..');
const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo } }`;
const ORDER = `query($id: ID!) { order(id: $id) { status tradeNo } }`;
const OTHER_TRADE = '2026120222001499999999999999';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Logged {
  id: string;
  verdict: string;
  reason: string | null;
  raw: Buffer;
}

/**
 * `npm run dev:notify` for real, as a developer runs it against this test server. Its DATA_DIR holds the test
 * server's own development secrets (testSecrets(), written where loadDevSecrets reads them), so the child signs
 * with the same local-Alipay key the server verifies with.
 */
describe('npm run dev:notify against a running service', () => {
  let server: TestServer | undefined;
  let dataDir: string | undefined;
  let buyer: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-dev-notify-'));
    const keys = devSecretsPath(dataDir);
    fs.mkdirSync(keys, { mode: 0o700 });
    const secrets = testSecrets();
    fs.writeFileSync(path.join(keys, 'app-private-key.pem'), secrets.appPrivateKeyPem, { mode: 0o600 });
    fs.writeFileSync(path.join(keys, 'sandbox-alipay-private-key.pem'), secrets.sandboxAlipayPrivateKeyPem, { mode: 0o600 });
    fs.writeFileSync(path.join(keys, 'jwt-secret'), secrets.jwtSecret, { mode: 0o600 });
    // An unwanted payment stays OPEN for an admin: the local Alipay has no trade to refund for a CLI notify.
    server = await startTestServer({ AUTO_REFUND_UNWANTED_PAYMENTS: 'false' });
    buyer = await server.token('dev-notify-buyer');
  });
  afterAll(async () => {
    await server?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const devNotify = (...args: string[]): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['-r', './scripts/swc-register.js', 'src/dev/notify.cli.ts', ...args, '--url', server!.url],
        {
          cwd: PROJECT,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            LANG: 'C.UTF-8',
            NODE_ENV: 'test',
            ALIPAY_GATEWAY: 'sandbox',
            DATABASE_URL: server!.db.url,
            DATA_DIR: dataDir!,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  const createOrder = async (): Promise<{ id: string; orderNo: string }> => {
    const created = await server!.gql(CREATE, { input: { amount: '12.34', subject: 'dev notify tea' } }, buyer);
    expect(created.errors).toBeUndefined();
    return created.data!.createOrder;
  };
  const order = async (id: string) => (await server!.gql(ORDER, { id }, buyer)).data!.order as { status: string; tradeNo: string | null };
  const notifies = (orderId: string) =>
    query<Logged>(
      server!.db.url,
      `select id::text as id, verdict, reason, raw from callback_logs where order_id = $1 and kind = 'NOTIFY' and signature_valid order by id`,
      [orderId],
    );
  const alerts = () => server!.logs.filter((line) => /NEEDS ATTENTION|PAYMENT EXCEPTION/.test(line));

  it('pays the order, then sent again is a DUPLICATE of the same trade, and --resend repeats the recorded notify byte for byte', async () => {
    const { id, orderNo } = await createOrder();

    const first = await devNotify(orderNo);
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain('→ 200 success');
    expect(first.code).toBe(0);
    const paid = await order(id);
    expect(paid.status).toBe('TRADE_SUCCESS');
    expect(paid.tradeNo).toMatch(/^[0-9]{28}$/);
    expect(first.stdout).toContain(`trade ${paid.tradeNo})`);

    const second = await devNotify(orderNo);
    expect(second.stdout).toContain(`trade ${paid.tradeNo}) → 200 success`);
    expect(second.code).toBe(0);
    let logged = await notifies(id);
    expect(logged.map((l) => l.verdict)).toEqual(['APPLIED', 'DUPLICATE']);
    expect(await order(id)).toEqual({ status: 'TRADE_SUCCESS', tradeNo: paid.tradeNo });
    expect(server!.logs.join('\n')).not.toContain('PAYMENT NEEDS ATTENTION');
    expect(alerts()).toEqual([]);

    const resend = await devNotify(orderNo, '--resend');
    expect(resend.stdout).toContain('again) → 200 success');
    expect(resend.code).toBe(0);
    logged = await notifies(id);
    expect(logged).toHaveLength(3);
    const [, previous, repeated] = logged;
    expect(repeated.verdict).toBe('DUPLICATE');
    expect(Buffer.compare(repeated.raw, previous.raw)).toBe(0);
    expect(await order(id)).toEqual({ status: 'TRADE_SUCCESS', tradeNo: paid.tradeNo });
    expect(alerts()).toEqual([]);
  });

  it('sends another trade number on purpose with --trade-no: a second payment the order does not take, recorded as a payment exception', async () => {
    const { id, orderNo } = await createOrder();
    expect((await devNotify(orderNo)).code).toBe(0);
    const paid = await order(id);

    const other = await devNotify(orderNo, '--trade-no', OTHER_TRADE);
    expect(other.stdout).toContain(`trade ${OTHER_TRADE}) → 200 success`);
    expect(await order(id)).toEqual({ status: 'TRADE_SUCCESS', tradeNo: paid.tradeNo });
    const logged = await notifies(id);
    expect(logged.map((l) => l.verdict)).toEqual(['APPLIED', 'REFUSED']);
    expect(logged[1].reason).toMatch(/paid twice/);
    const exceptions = await query<{ trade_no: string; status: string }>(
      server!.db.url,
      'select trade_no, status from payment_exceptions where order_id = $1',
      [id],
    );
    expect(exceptions).toEqual([{ trade_no: OTHER_TRADE, status: 'OPEN' }]);
  });

  it('gives a brand-new order a new trade number of its own', async () => {
    const { id, orderNo } = await createOrder();
    const run = await devNotify(orderNo, '--status', 'WAIT_BUYER_PAY');
    expect(run.code).toBe(0);
    const tradeNo = /trade ([0-9]+)\)/.exec(run.stdout)?.[1];
    expect(tradeNo).toMatch(/^[0-9]{28}$/);
    expect(await order(id)).toMatchObject({ status: 'WAIT_BUYER_PAY' });
  });

  it('--resend for an order with no recorded notify says so and exits 1, sending nothing', async () => {
    const { id, orderNo } = await createOrder();
    const run = await devNotify(orderNo, '--resend');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`No notify for ${orderNo} has been recorded yet: nothing to resend`);
    expect(run.stdout).toBe('');
    expect(await notifies(id)).toEqual([]);
    expect(await order(id)).toEqual({ status: 'WAIT_BUYER_PAY', tradeNo: null });
  });

  it('refuses --resend with --status before touching the database, exit 2 with the usage', async () => {
    const run = await devNotify('20261202000000000000000001', '--resend', '--status', 'TRADE_CLOSED');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--resend repeats a recorded notify as it was');
    expect(run.stderr).toContain('Usage: npm run dev:notify');
  });
});
