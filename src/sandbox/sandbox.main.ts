import 'reflect-metadata';
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import { certSn, rootCertSn, splitCertificates } from '../alipay/alipay.cert';
import { createLogger } from '../common/logger';
import { startEmbeddedPostgres, type RunningPostgres } from '../db/embedded-postgres';
import { initOrm, migrate } from '../db/orm';
import { SANDBOX_SELLER_ID, loadDevCertificates, loadDevSecrets } from '../dev/dev-secrets';
import { issueCertificate, SANDBOX_ROOT_DN } from './sandbox.certs';
import type { SandboxCertificates } from './sandbox.gateway';
import { LocalAlipay } from './sandbox.server';


/** `npm run sandbox`: the local Alipay on its own port, for other services (and other languages) to use. */
export interface StandaloneConfig {
  port: number;
  host: string;
  publicUrl: string;
  databaseUrl: string | null;
  dataDir: string;
  timeScale: number;
  certMode: boolean;
  /** SANDBOX_CONTROL_TOKEN: when set, the console, control API and trade views need it (and apps register URL prefixes). */
  controlToken: string | null;
}

export function loadStandaloneConfig(env: Readonly<Record<string, string | undefined>>): StandaloneConfig {
  const problems: string[] = [];
  const port = Number(env.SANDBOX_PORT ?? '4100');
  if (!/^[0-9]{1,5}$/.test(env.SANDBOX_PORT ?? '4100') || port > 65535) problems.push('SANDBOX_PORT: must be a whole number from 0 to 65535');
  const host = env.HOST ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]{1,255}$/.test(host)) problems.push('HOST: must be a host name or IP address');
  const publicUrl = (env.SANDBOX_PUBLIC_URL ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s?#]+$/.test(publicUrl)) problems.push('SANDBOX_PUBLIC_URL: must be an http(s) URL without query or fragment');
  const scale = env.SANDBOX_TIME_SCALE ?? '1';
  const timeScale = /^(0|1)(\.[0-9]{1,6})?$/.test(scale) ? Number(scale) : NaN;
  if (!(timeScale > 0 && timeScale <= 1)) problems.push('SANDBOX_TIME_SCALE: must be a number above 0 and at most 1');
  const certMode = env.SANDBOX_CERT_MODE ?? 'false';
  if (!['true', 'false'].includes(certMode)) problems.push('SANDBOX_CERT_MODE: must be true or false');
  const databaseUrl = env.DATABASE_URL ?? null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\/\S+$/.test(databaseUrl)) problems.push('DATABASE_URL: must be a postgres:// URL');
  const controlToken = env.SANDBOX_CONTROL_TOKEN ?? null;
  if (controlToken !== null && !/^[\x21-\x7e]{32,256}$/.test(controlToken)) problems.push('SANDBOX_CONTROL_TOKEN: must be 32–256 printable characters without spaces');
  if (problems.length) throw new Error(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  return { port, host, publicUrl, databaseUrl, dataDir: path.resolve(env.DATA_DIR ?? '.data'), timeScale, certMode: certMode === 'true', controlToken };
}

async function main(): Promise<void> {
  if (process.argv.length > 2) {
    process.stderr.write('npm run sandbox takes no arguments; configure it with SANDBOX_PORT, SANDBOX_PUBLIC_URL, DATABASE_URL, DATA_DIR, SANDBOX_TIME_SCALE, SANDBOX_CERT_MODE\n');
    process.exit(2);
  }
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  let config: StandaloneConfig;
  try {
    config = loadStandaloneConfig(process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  const logger = createLogger((process.env.LOG_LEVEL as 'info') ?? 'info');
  const secrets = loadDevSecrets(config.dataDir);
  const alipayKey = createPrivateKey(secrets.sandboxAlipayPrivateKeyPem);
  let certs: SandboxCertificates | null = null;
  let issueAppCertificate: ((key: import('node:crypto').KeyObject) => string) | undefined;
  if (config.certMode) {
    const dev = loadDevCertificates(config.dataDir, createPrivateKey(secrets.appPrivateKeyPem), alipayKey);
    certs = { rootPem: dev.rootPem, rootSn: rootCertSn(dev.rootPem), alipayCertPem: dev.alipayCertPem, alipayCertSn: certSn(splitCertificates(dev.alipayCertPem)[0]) };
    const rootKey = createPrivateKey(fs.readFileSync(path.join(config.dataDir, 'keys', 'certs', 'root-key.pem'), 'utf8'));
    issueAppCertificate = (key) =>
      issueCertificate({ subject: { C: 'CN', O: 'Local Alipay merchant', OU: 'Sandbox', CN: 'App public key' }, subjectKey: key, issuer: SANDBOX_ROOT_DN, issuerKey: rootKey });
  }

  let pg: RunningPostgres | null = null;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    pg = await startEmbeddedPostgres({ root: path.join(config.dataDir, 'sandbox-postgres') });
    databaseUrl = pg.url();
  }
  const orm = await initOrm(databaseUrl, 5);
  await migrate(orm);
  const local = new LocalAlipay({
    orm,
    alipayKey,
    baseUrl: `${config.publicUrl}/sandbox/alipay`,
    sellerId: SANDBOX_SELLER_ID,
    timeScale: config.timeScale,
    certs,
    logger,
    issueAppCertificate,
    controlToken: config.controlToken,
  });
  local.start();
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok'));
  app.use('/sandbox/alipay', local.router());
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));

  process.stdout.write(
    [
      '',
      `  Local Alipay gateway:  ${local.gatewayUrl}`,
      `  Console:               ${config.publicUrl}/sandbox/alipay/`,
      `  Alipay public key:     ${config.publicUrl}/sandbox/alipay/public-key   (ALIPAY_PUBLIC_KEY of your app)`,
      `  Register an app:       curl -X PUT ${config.publicUrl}/sandbox/alipay/apps/<16-digit app id> \\`,
      `                           -H 'content-type: application/json' -d '{"publicKey":"<app public key PEM>"}'`,
      certs ? '  Certificate mode: registering returns an app certificate; root.crt and alipay.crt are under /certs/.' : '',
      '',
    ].join('\n'),
  );

  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1);
      stopping = true;
      void (async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await local.stop();
        await orm.close();
        await pg?.stop();
        process.exit(0);
      })();
    });
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`fatal: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
