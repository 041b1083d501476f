import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPublicKey } from 'node:crypto';
import { ConfigError, describeConfig, loadConfig, parseDuration } from '../../src/config';
import { loadDevSecrets } from '../../src/dev/dev-secrets';
import { FIXTURES_DIR, fixtureText } from '../support/fixtures';
import { testSecrets } from '../support/server';

const NODE = path.join(FIXTURES_DIR, 'alipay-sdk-nodejs-all');
const load = (env: Record<string, string>) => loadConfig(env, { devSecrets: testSecrets, cwd: os.tmpdir() });

/** The problems a configuration is refused for, as "VARIABLE: problem" lines. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.variable}: ${p.problem}`);
    throw err;
  }
  throw new Error('expected the configuration to be refused');
}

const REAL = {
  ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do',
  ALIPAY_APP_ID: '2021001161683774',
  ALIPAY_APP_PRIVATE_KEY_PATH: path.join(NODE, 'app-private-key.pem'),
  ALIPAY_PUBLIC_KEY_PATH: path.join(NODE, 'alipay-public-key.pem'),
  JWT_SECRET: 'real-gateway-secret-0123456789abcdef',
};

describe('configuration', () => {
  it('starts with nothing configured: sandbox gateway, generated keys, the DESIGN defaults', () => {
    const config = load({});
    expect(config).toMatchObject({ port: 4000, host: '127.0.0.1', publicUrl: 'http://127.0.0.1:4000', databaseUrl: null, orderTtlMs: 15 * 60_000, frontendReturnUrl: null });
    expect(config.alipay.gateway).toBe('sandbox');
    expect(config.alipay.gatewayUrl).toBe('http://127.0.0.1:4000/sandbox/alipay/gateway.do');
    expect(config.alipay.sandboxPrivateKey).not.toBeNull();
    expect(config.jwt).toMatchObject({ kind: 'secret', generated: true });
  });

  it('reads a real Alipay app from key files, PKCS#1 and SPKI', () => {
    const config = load({ ...REAL, JWT_SECRET: 'x'.repeat(32), ALIPAY_SELLER_ID: '2088102534368455' });
    expect(config.alipay).toMatchObject({ gateway: REAL.ALIPAY_GATEWAY, gatewayUrl: REAL.ALIPAY_GATEWAY, appId: REAL.ALIPAY_APP_ID, sellerId: '2088102534368455', sandboxPrivateKey: null });
  });

  it("refuses Alipay's public key when it is really the app's own public key, and says so", () => {
    const problems = problemsOf({ ...REAL, ALIPAY_PUBLIC_KEY_PATH: path.join(NODE, 'app-public-key.pem') });
    expect(problems).toEqual([expect.stringMatching(/^ALIPAY_PUBLIC_KEY: is your app's own public key/)]);
  });

  it('refuses a private key that does not parse, naming the variable and never printing the value', () => {
    const secretLooking = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC-this-is-not-valid';
    const problems = problemsOf({ ...REAL, ALIPAY_APP_PRIVATE_KEY_PATH: '', ALIPAY_APP_PRIVATE_KEY: secretLooking });
    expect(problems).toEqual([expect.stringMatching(/^ALIPAY_APP_PRIVATE_KEY: /)]);
    expect(problems.join('\n')).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
  });

  it('requires the app id and both keys for a real gateway', () => {
    const problems = problemsOf({ ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['ALIPAY_APP_ID', 'ALIPAY_APP_PRIVATE_KEY', 'ALIPAY_PUBLIC_KEY', 'JWT_SECRET']);
  });

  it.each([{}, { NODE_ENV: 'development' }, { NODE_ENV: 'test' }])(
    'never generates a JWT secret beside a real Alipay gateway, whatever NODE_ENV says (%j)',
    (nodeEnv) => {
      const { JWT_SECRET: _given, ...withoutJwt } = REAL;
      const problems = problemsOf({ ...withoutJwt, ...nodeEnv } as Record<string, string>);
      expect(problems).toEqual([expect.stringMatching(/^JWT_SECRET: one of .* is required whenever ALIPAY_GATEWAY is a real Alipay gateway/)]);
      expect(load({ ...REAL, ...nodeEnv, JWT_SECRET: 'k'.repeat(32) } as Record<string, string>).jwt).toMatchObject({ kind: 'secret', generated: false });
    },
  );

  it('requires a JWT verification key and an explicit gateway in production', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      expect.stringMatching(/^JWT_SECRET: one of .* is required in production/),
      expect.stringMatching(/^ALIPAY_GATEWAY: must be set in production/),
    ]);
    const control = 'c'.repeat(32);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(32), ALIPAY_GATEWAY: 'sandbox' })).toEqual([
      expect.stringMatching(/^ALIPAY_GATEWAY: is the local Alipay in production: set SANDBOX_IN_PRODUCTION=true and a SANDBOX_CONTROL_TOKEN/),
    ]);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(32), ALIPAY_GATEWAY: 'sandbox', SANDBOX_IN_PRODUCTION: 'true' })).toHaveLength(1);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(32), ALIPAY_GATEWAY: 'sandbox', SANDBOX_CONTROL_TOKEN: control })).toHaveLength(1);
    const onPurpose = load({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(32), ALIPAY_GATEWAY: 'sandbox', SANDBOX_IN_PRODUCTION: 'true', SANDBOX_CONTROL_TOKEN: control });
    expect(onPurpose.alipay.gateway).toBe('sandbox');
    expect(onPurpose.sandbox!.controlToken).toBe(control);
  });

  it.each([
    [{ PORT: '99999' }, 'PORT'],
    [{ PORT: '80x' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ HOST: 'bad host!' }, 'HOST'],
    [{ PUBLIC_URL: 'ftp://example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://user:pw@example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://example.com/?x=1' }, 'PUBLIC_URL'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ ORDER_TTL: '0m' }, 'ORDER_TTL'],
    [{ ORDER_TTL: '16d' }, 'ORDER_TTL'],
    [{ ORDER_TTL: '15 minutes' }, 'ORDER_TTL'],
    [{ FRONTEND_RETURN_URL: 'javascript:alert(1)' }, 'FRONTEND_RETURN_URL'],
    [{ ALIPAY_GATEWAY: 'http://openapi.alipay.com/gateway.do' }, 'ALIPAY_GATEWAY'],
    [{ ALIPAY_APP_ID: '123' }, 'ALIPAY_APP_ID'],
    [{ ALIPAY_SELLER_ID: '1234' }, 'ALIPAY_SELLER_ID'],
    [{ ALIPAY_SIGN_TYPE: 'SM2' }, 'ALIPAY_SIGN_TYPE'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ JWT_SECRET: 'x'.repeat(40), JWKS_URL: 'https://idp.example.com/jwks' }, 'JWT_SECRET'],
    [{ JWKS_URL: 'http://idp.example.com/jwks' }, 'JWKS_URL'],
    [{ JWT_PUBLIC_KEY: 'garbage' }, 'JWT_PUBLIC_KEY'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ DB_POOL_SIZE: '0' }, 'DB_POOL_SIZE'],
    [{ DB_STATEMENT_TIMEOUT_MS: '-1' }, 'DB_STATEMENT_TIMEOUT_MS'],
    [{ DB_STATEMENT_TIMEOUT_MS: '5s' }, 'DB_STATEMENT_TIMEOUT_MS'],
    [{ DB_STATEMENT_TIMEOUT_MS: '9'.repeat(400) }, 'DB_STATEMENT_TIMEOUT_MS'],
    [{ DB_ACQUIRE_TIMEOUT_MS: '0' }, 'DB_ACQUIRE_TIMEOUT_MS'],
    [{ DB_ACQUIRE_TIMEOUT_MS: '1e3' }, 'DB_ACQUIRE_TIMEOUT_MS'],
    [{ AUTO_REFUND_UNWANTED_PAYMENTS: 'yes' }, 'AUTO_REFUND_UNWANTED_PAYMENTS'],
    [{ METRICS_TOKEN: 'short' }, 'METRICS_TOKEN'],
    [{ SANDBOX_CONTROL_TOKEN: 'too-short' }, 'SANDBOX_CONTROL_TOKEN'],
    [{ SANDBOX_IN_PRODUCTION: 'yes' }, 'SANDBOX_IN_PRODUCTION'],
    [{ ...REAL, SANDBOX_CONTROL_TOKEN: 'c'.repeat(32) }, 'SANDBOX_CONTROL_TOKEN'],
    [{ CALLBACK_LOG_RETENTION: '30' }, 'CALLBACK_LOG_RETENTION'],
    [{ CALLBACK_LOG_RETENTION: '10m' }, 'CALLBACK_LOG_RETENTION'],
    [{ CALLBACK_LOG_RETENTION: '99999d' }, 'CALLBACK_LOG_RETENTION'],
    [{ CALLBACK_LOG_RETENTION: '-1d' }, 'CALLBACK_LOG_RETENTION'],
    [{ METRICS_TOKEN: 'has spaces in it, sixteen+' }, 'METRICS_TOKEN'],
    [{ METRICS_TOKEN: 'x'.repeat(257) }, 'METRICS_TOKEN'],
    [{ AUTO_REFUND_UNWANTED_PAYMENTS: 'TRUE\u0000' }, 'AUTO_REFUND_UNWANTED_PAYMENTS'],
    [{ ALIPAY_APP_PRIVATE_KEY_PATH: '/nonexistent/key.pem' }, 'ALIPAY_APP_PRIVATE_KEY_PATH'],
    [{ ALIPAY_PUBLIC_KEY: 'x', ALIPAY_PUBLIC_KEY_PATH: '/etc/hostname' }, 'ALIPAY_PUBLIC_KEY'],
    [{ HOST: 'a'.repeat(70_000) }, 'HOST'],
    [{ PUBLIC_URL: 'http://a\u0000b' }, 'PUBLIC_URL'],
  ])('refuses %j, naming %s', (env, variable) => {
    expect(problemsOf(env as Record<string, string>).map((p) => p.split(':')[0])).toContain(variable);
  });

  it('reports every bad variable at once', () => {
    expect(problemsOf({ PORT: 'x', ORDER_TTL: 'y', ALIPAY_APP_ID: 'z' })).toHaveLength(3);
  });

  it('reads certificate mode from the three certificate files, with the SNs of the vectors', () => {
    const Y = path.join(FIXTURES_DIR, 'yansongda-pay');
    const config = load({
      ALIPAY_GATEWAY: 'https://openapi-sandbox.dl.alipaydev.com/gateway.do',
      JWT_SECRET: REAL.JWT_SECRET,
      ALIPAY_APP_ID: '9021000122682882',
      ALIPAY_APP_PRIVATE_KEY_PATH: path.join(Y, 'alipayAppSecretCert.pem'),
      ALIPAY_APP_CERT_PATH: path.join(Y, 'alipayAppPublicCert.crt'),
      ALIPAY_ROOT_CERT_PATH: path.join(Y, 'alipayRootCert.crt'),
      ALIPAY_PUBLIC_CERT_PATH: path.join(Y, 'alipayPublicCert.crt'),
    });
    expect(config.alipay.certificates).toEqual({
      appCertSn: 'e90dd23a37c5c7b616e003970817ff82',
      alipayRootCertSn: '687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6',
      alipayCertSn: '6f1e366a31d9575cd546914add04f4af',
    });
  });

  it('refuses certificate mode with an app certificate for another key, or with only some files', () => {
    const Y = path.join(FIXTURES_DIR, 'yansongda-pay');
    const base = {
      ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do',
      JWT_SECRET: REAL.JWT_SECRET,
      ALIPAY_APP_ID: '9021000122682882',
      ALIPAY_APP_PRIVATE_KEY_PATH: path.join(NODE, 'app-private-key.pem'),
      ALIPAY_APP_CERT_PATH: path.join(Y, 'alipayAppPublicCert.crt'),
      ALIPAY_ROOT_CERT_PATH: path.join(Y, 'alipayRootCert.crt'),
      ALIPAY_PUBLIC_CERT_PATH: path.join(Y, 'alipayPublicCert.crt'),
    };
    expect(problemsOf(base)).toEqual(['ALIPAY_APP_CERT_PATH: the certificate is not for ALIPAY_APP_PRIVATE_KEY']);
    expect(problemsOf({ ...base, ALIPAY_ROOT_CERT_PATH: '' }).join('\n')).toContain('ALIPAY_ROOT_CERT_PATH: certificate mode needs');
    expect(problemsOf({ ...base, ALIPAY_PUBLIC_CERT_PATH: path.join(NODE, 'app-public-key.pem') }).join('\n')).toContain('ALIPAY_APP_CERT_PATH');
  });

  it('accepts an RS256 or ES256 public key for tokens', () => {
    const rsa = fixtureText('alipay-sdk-nodejs-all/app-public-key.pem');
    expect(load({ JWT_PUBLIC_KEY: rsa }).jwt).toMatchObject({ kind: 'publicKey', algorithms: ['RS256'] });
  });

  it('bounds database waits by default (5 s per statement, 3 s for a connection) and refunds unwanted payments unless told not to', () => {
    const config = load({});
    expect(config.dbLimits).toEqual({ statementTimeoutMs: 5000, acquireTimeoutMs: 3000 });
    expect(config.autoRefundUnwantedPayments).toBe(true);
    const tuned = load({ DB_STATEMENT_TIMEOUT_MS: '0', DB_ACQUIRE_TIMEOUT_MS: '250', AUTO_REFUND_UNWANTED_PAYMENTS: 'false' });
    expect(tuned.dbLimits).toEqual({ statementTimeoutMs: 0, acquireTimeoutMs: 250 });
    expect(tuned.autoRefundUnwantedPayments).toBe(false);
  });

  it('parses durations for ORDER_TTL', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1.5h')).toBeNull();
  });

  it('describes itself without any secret', () => {
    const config = load({ JWT_SECRET: 's'.repeat(40) });
    const text = JSON.stringify(describeConfig(config));
    expect(text).not.toContain('s'.repeat(40));
    expect(text).not.toContain('PRIVATE');
  });
});

describe('generated development secrets', () => {
  it('are created once under DATA_DIR/keys with mode 0600 and reused on the next start', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alipay-svc-devkeys-'));
    try {
      const first = loadDevSecrets(dir);
      const second = loadDevSecrets(dir);
      expect(second).toEqual(first);
      const files = fs.readdirSync(path.join(dir, 'keys'));
      expect(files.sort()).toEqual(['app-private-key.pem', 'jwt-secret', 'sandbox-alipay-private-key.pem']);
      for (const f of files) expect(fs.statSync(path.join(dir, 'keys', f)).mode & 0o777).toBe(0o600);
      expect(createPublicKey(first.appPrivateKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(first.appPrivateKeyPem).not.toBe(first.sandboxAlipayPrivateKeyPem);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('webhook configuration', () => {
  const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;

  it('reads WEBHOOK_URL and WEBHOOK_SECRET, the default schedule of about three days, and the time scale', () => {
    const config = load({ WEBHOOK_URL: 'https://merchant.example/hooks?k=1', WEBHOOK_SECRET: secret, WEBHOOK_TIME_SCALE: '0.001' });
    expect(config.webhooks.endpoint).toEqual({ url: 'https://merchant.example/hooks?k=1', secret });
    expect(config.webhooks.timeScale).toBe(0.001);
    expect(config.webhooks.timeoutMs).toBe(10_000);
    const total = config.webhooks.retryScheduleMs.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(70 * 3_600_000);
    expect(total).toBeLessThanOrEqual(72 * 3_600_000);
    expect(config.webhooks.retryScheduleMs[0]).toBe(5000);
    expect(load({}).webhooks.endpoint).toBeNull();
  });

  it('refuses a bad secret, a URL without its secret and the reverse, odd schemes and a bad schedule, naming each variable and never the secret', () => {
    expect(problemsOf({ WEBHOOK_URL: 'https://m.example/h', WEBHOOK_SECRET: 'whsec_c2hvcnQ=' })).toEqual([
      'WEBHOOK_SECRET: must be whsec_ followed by the base64 of at least 24 random bytes',
    ]);
    expect(problemsOf({ WEBHOOK_URL: 'https://m.example/h', WEBHOOK_SECRET: 'not-a-secret-at-all-0123456789' }).join('\n')).not.toContain('not-a-secret');
    expect(problemsOf({ WEBHOOK_URL: 'https://m.example/h' })).toEqual([expect.stringMatching(/^WEBHOOK_SECRET: is required with WEBHOOK_URL/)]);
    expect(problemsOf({ WEBHOOK_SECRET: secret })).toEqual(['WEBHOOK_URL: is required with WEBHOOK_SECRET']);
    for (const url of ['ftp://m.example/h', 'javascript:alert(1)', 'https://u:p@m.example/', 'https://m.example/a b']) {
      expect(problemsOf({ WEBHOOK_URL: url, WEBHOOK_SECRET: secret })[0]).toMatch(/^WEBHOOK_URL: must be an http\(s\) URL/);
    }
    for (const schedule of ['5s,,1m', '5x', '0s', '1s,'.repeat(31) + '1s', '-5s']) {
      expect(problemsOf({ WEBHOOK_RETRY_SCHEDULE: schedule })).toEqual([expect.stringMatching(/^WEBHOOK_RETRY_SCHEDULE: /)]);
    }
    expect(problemsOf({ WEBHOOK_TIME_SCALE: '2' })).toEqual([expect.stringMatching(/^WEBHOOK_TIME_SCALE: /)]);
    expect(problemsOf({ WEBHOOK_TIMEOUT_MS: '10' })).toEqual([expect.stringMatching(/^WEBHOOK_TIMEOUT_MS: /)]);
  });

  it('allows private destinations outside production, and in production only with WEBHOOK_ALLOW_PRIVATE=true', () => {
    expect(load({}).webhooks.allowPrivate).toBe(true);
    const prod = { ...REAL, NODE_ENV: 'production' };
    expect(load(prod).webhooks.allowPrivate).toBe(false);
    expect(load({ ...prod, WEBHOOK_ALLOW_PRIVATE: 'true' }).webhooks.allowPrivate).toBe(true);
    expect(problemsOf({ ...prod, WEBHOOK_URL: 'http://[::1]:9000/h', WEBHOOK_SECRET: secret })).toEqual([expect.stringMatching(/^WEBHOOK_URL: ::1 is a loopback/)]);
  });
});

describe('reconciliation configuration', () => {
  it('reads RECONCILE_AT as a Beijing time of day, 10:00 by default, and refuses anything else', () => {
    expect(load({}).reconcileAtMinutes).toBe(600);
    expect(load({ RECONCILE_AT: '09:30' }).reconcileAtMinutes).toBe(570);
    for (const bad of ['10', '24:00', '9:30', '10:60', '10:00:00', 'ten']) {
      expect(problemsOf({ RECONCILE_AT: bad })).toEqual(['RECONCILE_AT: must be a Beijing time of day as HH:MM, e.g. 10:00']);
    }
  });
});
