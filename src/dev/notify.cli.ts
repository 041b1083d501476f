import 'reflect-metadata';
import fs from 'node:fs';
import { Client } from 'pg';
import { ConfigError, loadConfig } from '../config';
import { newTradeNo, signedNotifyBody } from '../sandbox/sandbox.callbacks';
import { readRuntimeInfo } from './runtime-info';

const STATUSES = ['TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED', 'WAIT_BUYER_PAY'] as const;

export const USAGE = `Usage: npm run dev:notify -- ORDER [--status STATUS] [--trade-no TRADE_NO] [--url BASE_URL]
       npm run dev:notify -- ORDER --resend [--url BASE_URL]

Sends the running service a notify signed by the local Alipay, as if the buyer had paid ORDER.

  ORDER              the order number (orderNo) or id
  --status STATUS    ${STATUSES.join(' | ')} (default TRADE_SUCCESS)
  --trade-no NO      Alipay's trade number to report (default: the order's own once it has one, else a new one);
                     another number than the order's is a second payment, which the service records as a
                     payment exception
  --resend           repeat the last notify the service recorded for ORDER, byte for byte (as Alipay resends)
  --url BASE_URL     where the service listens (default: PUBLIC_URL of the running service)
`;

export interface NotifyArgs {
  order: string;
  status: (typeof STATUSES)[number];
  tradeNo: string | null;
  resend: boolean;
  url: string | null;
}

export class UsageError extends Error {}

/** Parses the command line; every problem is a UsageError with a message that says what is wrong. */
export function parseNotifyArgs(argv: string[]): NotifyArgs {
  let order: string | null = null;
  let status: NotifyArgs['status'] = 'TRADE_SUCCESS';
  let statusGiven = false;
  let tradeNo: string | null = null;
  let resend = false;
  let url: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--resend') {
      resend = true;
    } else if (arg === '--status' || arg === '--url' || arg === '--trade-no') {
      const value = argv[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      if (arg === '--status') {
        if (!(STATUSES as readonly string[]).includes(value)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
        status = value as NotifyArgs['status'];
        statusGiven = true;
      } else if (arg === '--trade-no') {
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw new UsageError('--trade-no must be 1–64 letters, digits, _ or -');
        tradeNo = value;
      } else {
        if (!/^https?:\/\/[^\s]{1,2000}$/.test(value)) throw new UsageError('--url must be an http(s) URL');
        url = value.replace(/\/+$/, '');
      }
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option: ${arg.slice(0, 40)}`);
    } else if (order === null) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(arg)) throw new UsageError('ORDER must be an order number or id (letters, digits, _ and -; up to 64)');
      order = arg;
    } else {
      throw new UsageError('give one ORDER only');
    }
  }
  if (order === null) throw new UsageError('ORDER is required');
  if (resend && (statusGiven || tradeNo !== null)) throw new UsageError('--resend repeats a recorded notify as it was: it takes no --status or --trade-no');
  return { order, status, tradeNo, resend, url };
}

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: NotifyArgs;
  try {
    args = parseNotifyArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (!config.alipay.sandboxPrivateKey) {
    process.stderr.write('dev:notify signs as the local Alipay: it works only with ALIPAY_GATEWAY=sandbox and no ALIPAY_PUBLIC_KEY\n');
    return 1;
  }
  const runtime = readRuntimeInfo(config.dataDir);
  const databaseUrl = config.databaseUrl ?? runtime?.databaseUrl;
  if (!databaseUrl) {
    process.stderr.write('No running service found: start it with `npm start` in another terminal first\n');
    return 1;
  }
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  let row: { id: string; order_no: string; amount: string; subject: string; trade_no: string | null } | undefined;
  let last: Buffer | null = null;
  try {
    const result = await client.query(
      'select id, order_no, amount::text as amount, subject, trade_no from orders where order_no = $1 or id::text = $1 limit 1',
      [args.order],
    );
    row = result.rows[0];
    if (row && args.resend) {
      const logged = await client.query<{ raw: Buffer }>(
        `select raw from callback_logs where order_id = $1 and kind = 'NOTIFY' and signature_valid order by id desc limit 1`,
        [row.id],
      );
      last = logged.rows[0]?.raw ?? null;
    }
  } finally {
    await client.end();
  }
  if (!row) {
    process.stderr.write(`No order ${args.order}\n`);
    return 1;
  }
  if (args.resend && !last) {
    process.stderr.write(`No notify for ${row.order_no} has been recorded yet: nothing to resend\n`);
    return 1;
  }
  // The order's own trade once it has one: sending it again is a resend of that payment, not a second payment.
  const tradeNo = args.tradeNo ?? row.trade_no ?? newTradeNo();
  const body = last ?? await signedNotifyBody(
    {
      appId: config.alipay.appId,
      sellerId: config.alipay.sellerId ?? '',
      outTradeNo: row.order_no,
      tradeNo,
      totalAmount: row.amount,
      subject: row.subject,
      tradeStatus: args.status,
      buyerId: '2088000000000002',
    },
    config.alipay.sandboxPrivateKey,
    config.alipay.signType,
  );
  const target = `${args.url ?? runtime?.publicUrl ?? config.publicUrl}/alipay/notify`;
  const response = await fetch(target, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
  const reply = await response.text();
  const what = args.resend ? `the last recorded notify for ${row.order_no}, again` : `${args.status} for ${row.order_no}, ¥${row.amount}, trade ${tradeNo}`;
  process.stdout.write(`POST ${target} (${what}) → ${response.status} ${reply}\n`);
  return reply === 'success' ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`dev:notify failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
