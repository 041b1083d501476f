import { createPublicKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { isIP } from 'node:net';
import { isPublicAddress } from './webhooks/webhook.destination';
import path from 'node:path';
import { KeyFormatError, modulusBits, parsePrivateKey, parsePublicKey, sameKeyPair } from './alipay/alipay.keys';
import { SIGN_TYPES, type SignType } from './alipay/alipay.signer';
import type { LogLevel } from './common/logger';
import { CertificateError, certSn, rootCertSn, splitCertificates } from './alipay/alipay.cert';
import {
  SANDBOX_APP_ID,
  SANDBOX_SELLER_ID,
  loadDevCertificates,
  loadDevSecrets,
  type DevCertificates,
  type DevSecrets,
} from './dev/dev-secrets';
import type { SandboxCertificates } from './sandbox/sandbox.gateway';
import type { PoolLimits } from './db/sql';
import { DEFAULT_GRAPHQL_LIMITS, type GraphQLLimits } from './graphql/limits';

/**
 * The environment, validated once at boot into one typed Config. Every problem is reported with the variable's
 * name and what is wrong with it, never with its value (values may be secrets).
 */
export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  /** Base URL Alipay and browsers reach us at; no trailing slash. */
  publicUrl: string;
  databaseUrl: string | null;
  dataDir: string;
  dbPoolSize: number;
  /** Bounds on every statement and on the wait for a pooled connection (DB_STATEMENT_TIMEOUT_MS, DB_ACQUIRE_TIMEOUT_MS). */
  dbLimits: PoolLimits;
  logLevel: LogLevel;
  jwt: JwtConfig;
  alipay: AlipayConfig;
  orderTtlMs: number;
  frontendReturnUrl: string | null;
  /** Null unless ALIPAY_GATEWAY=sandbox. */
  sandbox: SandboxConfig | null;
  /** Run the pg-boss maintenance jobs (close expired orders, reconcile, retry refunds) in this process. */
  jobsEnabled: boolean;
  /** Per attempt, for calls to Alipay's gateway. */
  alipayTimeoutMs: number;
  /** HTTP server processes (node:cluster); 1 = this process serves. */
  workers: number;
  /** Refund verified payments an order cannot take (paid after close, paid twice) at once, through Alipay. */
  autoRefundUnwantedPayments: boolean;
  /** When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`. */
  metricsToken: string | null;
  /** How long records of callbacks whose signature did not verify are kept (CALLBACK_LOG_RETENTION). */
  callbackLogRetentionMs: number;
  graphql: {
    limits: GraphQLLimits;
    /** Who may introspect the schema (GRAPHQL_INTROSPECTION), on HTTP and graphql-ws alike. */
    introspection: 'public' | 'authenticated' | 'off';
    /** Live subscriptions per socket, and per user across sockets (GRAPHQL_MAX_SUBSCRIPTIONS). */
    maxSubscriptions: number;
    /** GraphiQL at GET /graphql in a browser (GRAPHQL_IDE; on by default in development only). */
    ide: boolean;
  };
  /** One log line per HTTP request (LOG_REQUESTS); business events and errors are logged either way. */
  logRequests: boolean;
  webhooks: WebhookConfig;
  /** When the daily reconciliation runs, in minutes after Beijing midnight (RECONCILE_AT, HH:MM Beijing time). */
  reconcileAtMinutes: number;
}

/** Merchant webhooks (WEBHOOK_*). */
export interface WebhookConfig {
  /** The endpoint configured by the environment (WEBHOOK_URL + WEBHOOK_SECRET), if any. */
  endpoint: { url: string; secret: string } | null;
  /** Waits between attempts, before the time scale: attempt n+1 comes wait[n] after attempt n fails (WEBHOOK_RETRY_SCHEDULE). */
  retryScheduleMs: number[];
  /** Multiplies the waits (WEBHOOK_TIME_SCALE), like SANDBOX_TIME_SCALE: 0.001 turns 5 minutes into 300 ms. */
  timeScale: number;
  /** How long an endpoint has to answer (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Whether loopback, private and link-local destinations may be reached (WEBHOOK_ALLOW_PRIVATE; always outside production). */
  allowPrivate: boolean;
}

/** The default retry waits: exponential from 5 s, capped at 12 h, 14 retries over about 3 days (71 h 43 m). */
export const DEFAULT_WEBHOOK_SCHEDULE = '5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,12h,12h,12h,8h';

/** `5s`, `30m`, `2h`, `1d` in milliseconds (seconds allowed, unlike parseDuration). */
function parseWait(text: string): number | null {
  const m = /^([1-9][0-9]{0,4})(s|m|h|d)$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** `whsec_` + base64 of at least 24 bytes (the Standard Webhooks secret format). */
export function isWebhookSecret(text: string): boolean {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(text);
  if (!m || m[1].length % 4 !== 0) return false;
  return Buffer.from(m[1], 'base64').length >= 24;
}

export type JwtConfig = (
  | { kind: 'secret'; secret: Uint8Array; generated: boolean }
  | { kind: 'publicKey'; key: KeyObject; algorithms: string[] }
  | { kind: 'jwks'; url: URL }
) & { issuer: string | null; audience: string | null };

export interface AlipayConfig {
  appId: string;
  appPrivateKey: KeyObject;
  alipayPublicKey: KeyObject;
  signType: SignType;
  /** `sandbox` (the built-in local Alipay) or Alipay's gateway.do URL. */
  gateway: string;
  /** Where pay links point: the local Alipay's gateway.do in sandbox mode. */
  gatewayUrl: string;
  sellerId: string | null;
  /** In sandbox mode, the local Alipay's own signing key (its public half is alipayPublicKey). */
  sandboxPrivateKey: KeyObject | null;
  /** Whether the app key pair was generated for development. */
  generatedKeys: boolean;
  /** Certificate mode (公钥证书模式): the SNs sent on requests and expected on responses; null in key mode. */
  certificates: { appCertSn: string; alipayRootCertSn: string; alipayCertSn: string } | null;
}

/** The built-in local Alipay (ALIPAY_GATEWAY=sandbox). */
export interface SandboxConfig {
  /** Multiplies Alipay's waits, e.g. 0.001 turns the 4-minute notify retry into 240 ms (SANDBOX_TIME_SCALE). */
  timeScale: number;
  /** Certificate mode material when SANDBOX_CERT_MODE=true. */
  certificates: SandboxCertificates | null;
  /** SANDBOX_CONTROL_TOKEN: when set, the console, control API and trade views need it as a bearer token. */
  controlToken: string | null;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: Array<{ variable: string; problem: string }>) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.problem}`).join('\n')}`);
  }
}

export const PRODUCTION_GATEWAY = 'https://openapi.alipay.com/gateway.do';
export const SANDBOX_GATEWAY = 'https://openapi-sandbox.dl.alipaydev.com/gateway.do';

const MAX_VALUE = 64 * 1024;
const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 15 * 24 * 3600_000;

type Env = Readonly<Record<string, string | undefined>>;

export interface LoadOptions {
  /** Supplies generated development secrets; defaults to the ones under DATA_DIR. */
  devSecrets?: (dataDir: string) => DevSecrets;
  /** Directory relative paths are resolved against (default: the working directory). */
  cwd?: string;
  /** Supplies the local Alipay's certificate-mode material; defaults to the ones under DATA_DIR. */
  devCertificates?: (dataDir: string, appKey: KeyObject, sandboxKey: KeyObject) => DevCertificates;
}

/** Parses `15m`, `2h`, `1d` into milliseconds. */
export function parseDuration(text: string): number | null {
  const m = /^([1-9][0-9]{0,5})(m|h|d)$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
}

function httpUrl(text: string): URL | null {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    if (url.username || url.password) return null;
    return url;
  } catch {
    return null;
  }
}

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

export function loadConfig(env: Env, options: LoadOptions = {}): Config {
  const problems: Array<{ variable: string; problem: string }> = [];
  const fail = (variable: string, problem: string) => problems.push({ variable, problem });
  const cwd = options.cwd ?? process.cwd();

  const raw = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    if (value.length > MAX_VALUE) {
      fail(name, `is longer than ${MAX_VALUE} characters`);
      return undefined;
    }
    if (/[\u0000]/.test(value)) {
      fail(name, 'contains a NUL character');
      return undefined;
    }
    return value;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const value = raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      fail(name, `must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return value as T;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    if (!/^[0-9]{1,6}$/.test(value) || Number(value) < min || Number(value) > max) {
      fail(name, `must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return Number(value);
  };
  /** A file named by a *_PATH variable. */
  const readFile = (name: string): string | undefined => {
    const file = raw(name);
    if (file === undefined) return undefined;
    try {
      const text = fs.readFileSync(path.resolve(cwd, file), 'utf8');
      if (text.length > MAX_VALUE) {
        fail(name, `the file is larger than ${MAX_VALUE} bytes`);
        return undefined;
      }
      return text;
    } catch (err) {
      fail(name, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  };

  /** A value given inline or as a file path (NAME / NAME_PATH), never both. */
  const inlineOrFile = (name: string): string | undefined => {
    const inline = raw(name);
    if (inline !== undefined && raw(`${name}_PATH`) !== undefined) {
      fail(name, `set either ${name} or ${name}_PATH, not both`);
      return undefined;
    }
    return inline ?? readFile(`${name}_PATH`);
  };

  const nodeEnv = oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const port = integer('PORT', 4000, 0, 65535);
  const host = raw('HOST') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]{1,255}$/.test(host)) fail('HOST', 'must be a host name or IP address');
  const dataDir = path.resolve(cwd, raw('DATA_DIR') ?? '.data');
  const dbPoolSize = integer('DB_POOL_SIZE', 10, 1, 200);
  const dbLimits: PoolLimits = {
    statementTimeoutMs: integer('DB_STATEMENT_TIMEOUT_MS', 5_000, 0, 600_000),
    acquireTimeoutMs: integer('DB_ACQUIRE_TIMEOUT_MS', 3_000, 100, 60_000),
  };
  const graphql: Config['graphql'] = {
    limits: {
      maxDepth: integer('GRAPHQL_MAX_DEPTH', DEFAULT_GRAPHQL_LIMITS.maxDepth, 1, 100),
      maxAliases: integer('GRAPHQL_MAX_ALIASES', DEFAULT_GRAPHQL_LIMITS.maxAliases, 0, 1000),
      maxDirectives: integer('GRAPHQL_MAX_DIRECTIVES', DEFAULT_GRAPHQL_LIMITS.maxDirectives, 0, 1000),
      maxTokens: integer('GRAPHQL_MAX_TOKENS', DEFAULT_GRAPHQL_LIMITS.maxTokens, 100, 100_000),
      maxCost: integer('GRAPHQL_MAX_COST', DEFAULT_GRAPHQL_LIMITS.maxCost, 10, 1_000_000),
    },
    introspection: oneOf('GRAPHQL_INTROSPECTION', ['public', 'authenticated', 'off'] as const, nodeEnv === 'production' ? 'authenticated' : 'public'),
    maxSubscriptions: integer('GRAPHQL_MAX_SUBSCRIPTIONS', 20, 1, 1000),
    ide: oneOf('GRAPHQL_IDE', ['true', 'false'] as const, nodeEnv === 'development' ? 'true' : 'false') === 'true',
  };
  const logRequests = oneOf('LOG_REQUESTS', ['true', 'false'] as const, 'true') === 'true';
  const webhooks = loadWebhookConfig(raw, fail, oneOf, integer, nodeEnv);
  const reconcileAt = raw('RECONCILE_AT') ?? '10:00';
  const at = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(reconcileAt);
  if (!at) fail('RECONCILE_AT', 'must be a Beijing time of day as HH:MM, e.g. 10:00');
  const reconcileAtMinutes = at ? Number(at[1]) * 60 + Number(at[2]) : 600;
  let callbackLogRetentionMs = 30 * 86_400_000;
  const retention = raw('CALLBACK_LOG_RETENTION');
  if (retention !== undefined) {
    const ms = parseDuration(retention);
    if (ms === null || ms < 3_600_000 || ms > 3650 * 86_400_000) fail('CALLBACK_LOG_RETENTION', 'must be a duration from 1h to 3650d, e.g. 30d');
    else callbackLogRetentionMs = ms;
  }
  const metricsToken = raw('METRICS_TOKEN') ?? null;
  if (metricsToken !== null && !/^[\x21-\x7e]{16,256}$/.test(metricsToken)) fail('METRICS_TOKEN', 'must be 16–256 printable characters without spaces');
  const autoRefundUnwantedPayments = oneOf('AUTO_REFUND_UNWANTED_PAYMENTS', ['true', 'false'] as const, 'true') === 'true';
  const jobsEnabled = oneOf('JOBS_ENABLED', ['true', 'false'] as const, 'true') === 'true';
  const alipayTimeoutMs = integer('ALIPAY_TIMEOUT_MS', 10_000, 100, 60_000);
  const workers = integer('WORKERS', 1, 1, 64);
  const logLevel = oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info');

  let publicUrl = `http://127.0.0.1:${port}`;
  const publicUrlRaw = raw('PUBLIC_URL');
  if (publicUrlRaw !== undefined) {
    const url = httpUrl(publicUrlRaw);
    if (!url || url.search || url.hash) fail('PUBLIC_URL', 'must be an http(s) URL without credentials, query or fragment');
    else publicUrl = url.toString().replace(/\/+$/, '');
  }

  const databaseUrl = raw('DATABASE_URL') ?? null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\/[^\s]+$/.test(databaseUrl)) {
    fail('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }

  let orderTtlMs = 15 * 60_000;
  const ttl = raw('ORDER_TTL');
  if (ttl !== undefined) {
    const ms = parseDuration(ttl);
    if (ms === null || ms < MIN_TTL_MS || ms > MAX_TTL_MS) fail('ORDER_TTL', 'must be a duration from 1m to 15d, e.g. 15m, 2h, 1d');
    else orderTtlMs = ms;
  }

  let frontendReturnUrl: string | null = null;
  const frontend = raw('FRONTEND_RETURN_URL');
  if (frontend !== undefined) {
    const url = httpUrl(frontend);
    if (!url || url.hash) fail('FRONTEND_RETURN_URL', 'must be an http(s) URL without credentials or fragment');
    else frontendReturnUrl = url.toString();
  }

  // Development secrets are created only when something actually needs them.
  let dev: DevSecrets | undefined;
  const devSecrets = () => (dev ??= (options.devSecrets ?? loadDevSecrets)(dataDir));

  const gatewayRaw = raw('ALIPAY_GATEWAY');
  const jwt = loadJwt(raw, fail, nodeEnv, devSecrets, gatewayRaw !== undefined && gatewayRaw !== 'sandbox');
  if (nodeEnv === 'production' && raw('ALIPAY_GATEWAY') === undefined) {
    fail('ALIPAY_GATEWAY', 'must be set in production: an Alipay gateway URL, or "sandbox" to use the local Alipay on purpose');
  }
  const loaded = loadAlipay(raw, inlineOrFile, readFile, fail, publicUrl, dataDir, devSecrets, options.devCertificates ?? loadDevCertificates);

  const controlToken = raw('SANDBOX_CONTROL_TOKEN') ?? null;
  if (controlToken !== null && !/^[\x21-\x7e]{32,256}$/.test(controlToken)) fail('SANDBOX_CONTROL_TOKEN', 'must be 32–256 printable characters without spaces');
  const inProduction = oneOf('SANDBOX_IN_PRODUCTION', ['true', 'false'] as const, 'false') === 'true';
  if (loaded?.sandbox) {
    loaded.sandbox.controlToken = controlToken;
    // A stranger must never pay a real order for free, register keys or aim notifies at internal hosts.
    if (nodeEnv === 'production' && raw('ALIPAY_GATEWAY') !== undefined && (!inProduction || controlToken === null)) {
      fail('ALIPAY_GATEWAY', 'is the local Alipay in production: set SANDBOX_IN_PRODUCTION=true and a SANDBOX_CONTROL_TOKEN (32+ characters) to run it on purpose, or point ALIPAY_GATEWAY at Alipay');
    }
  } else if (controlToken !== null || raw('SANDBOX_IN_PRODUCTION') !== undefined) {
    fail(controlToken !== null ? 'SANDBOX_CONTROL_TOKEN' : 'SANDBOX_IN_PRODUCTION', 'applies only with ALIPAY_GATEWAY=sandbox');
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    env: nodeEnv,
    port,
    host,
    publicUrl,
    databaseUrl,
    dataDir,
    dbPoolSize,
    dbLimits,
    logLevel,
    jwt: jwt!,
    alipay: loaded!.alipay,
    orderTtlMs,
    frontendReturnUrl,
    sandbox: loaded!.sandbox,
    jobsEnabled,
    alipayTimeoutMs,
    workers,
    autoRefundUnwantedPayments,
    metricsToken,
    callbackLogRetentionMs,
    graphql,
    logRequests,
    webhooks,
    reconcileAtMinutes,
  };
}

type Raw = (name: string) => string | undefined;
type Fail = (variable: string, problem: string) => void;

function loadJwt(
  raw: Raw,
  fail: Fail,
  nodeEnv: Config['env'],
  devSecrets: () => DevSecrets,
  realGateway: boolean,
): JwtConfig | undefined {
  const secret = raw('JWT_SECRET');
  const publicKey = raw('JWT_PUBLIC_KEY');
  const jwksUrl = raw('JWKS_URL');
  const issuer = raw('JWT_ISSUER') ?? null;
  const audience = raw('JWT_AUDIENCE') ?? null;
  const given = [secret, publicKey, jwksUrl].filter((v) => v !== undefined).length;
  if (given > 1) {
    fail('JWT_SECRET', 'set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWKS_URL');
    return undefined;
  }
  const common = { issuer, audience };
  if (secret !== undefined) {
    if (secret.length < 32) {
      fail('JWT_SECRET', 'must be at least 32 characters (HS256 needs a 256-bit secret)');
      return undefined;
    }
    return { kind: 'secret', secret: new TextEncoder().encode(secret), generated: false, ...common };
  }
  if (publicKey !== undefined) {
    try {
      const text = publicKey.replace(/\\n/g, '\n');
      const key = createPublicKey(text.includes('-----') ? text : { key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
      if (key.asymmetricKeyType === 'rsa') return { kind: 'publicKey', key, algorithms: ['RS256'], ...common };
      if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
        return { kind: 'publicKey', key, algorithms: ['ES256'], ...common };
      }
      fail('JWT_PUBLIC_KEY', 'must be an RSA (RS256) or P-256 (ES256) public key');
    } catch {
      fail('JWT_PUBLIC_KEY', 'does not parse as a public key (PEM or base64 SPKI)');
    }
    return undefined;
  }
  if (jwksUrl !== undefined) {
    const url = httpUrl(jwksUrl);
    if (!url || (url.protocol === 'http:' && !isLoopback(url))) {
      fail('JWKS_URL', 'must be an https URL (http only for localhost)');
      return undefined;
    }
    return { kind: 'jwks', url, ...common };
  }
  if (nodeEnv === 'production') {
    fail('JWT_SECRET', 'one of JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL is required in production');
    return undefined;
  }
  if (realGateway) {
    // Real money: never a generated secret (and never a printed admin token), whatever NODE_ENV says.
    fail('JWT_SECRET', 'one of JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL is required whenever ALIPAY_GATEWAY is a real Alipay gateway');
    return undefined;
  }
  return { kind: 'secret', secret: new TextEncoder().encode(devSecrets().jwtSecret), generated: true, ...common };
}

interface AlipayLoad {
  alipay: AlipayConfig;
  sandbox: SandboxConfig | null;
}

function loadAlipay(
  raw: Raw,
  inlineOrFile: (name: string) => string | undefined,
  readFile: (name: string) => string | undefined,
  fail: Fail,
  publicUrl: string,
  dataDir: string,
  devSecrets: () => DevSecrets,
  devCertificates: NonNullable<LoadOptions['devCertificates']>,
): AlipayLoad | undefined {
  const gateway = raw('ALIPAY_GATEWAY') ?? 'sandbox';
  const sandbox = gateway === 'sandbox';
  let gatewayUrl = `${publicUrl}/sandbox/alipay/gateway.do`;
  if (!sandbox) {
    const url = httpUrl(gateway);
    if (!url || (url.protocol === 'http:' && !isLoopback(url))) {
      fail('ALIPAY_GATEWAY', `must be "sandbox" or an https gateway URL such as ${PRODUCTION_GATEWAY}`);
    } else {
      gatewayUrl = url.toString();
    }
  }

  const signType = (raw('ALIPAY_SIGN_TYPE') ?? 'RSA2') as SignType;
  if (!SIGN_TYPES.includes(signType)) fail('ALIPAY_SIGN_TYPE', 'must be RSA2 or RSA');

  const appIdRaw = raw('ALIPAY_APP_ID');
  if (appIdRaw !== undefined && !/^[0-9]{16}$/.test(appIdRaw)) fail('ALIPAY_APP_ID', 'must be the 16-digit app id');
  if (appIdRaw === undefined && !sandbox) fail('ALIPAY_APP_ID', 'is required when ALIPAY_GATEWAY is not sandbox');
  const appId = appIdRaw ?? SANDBOX_APP_ID;

  const sellerIdRaw = raw('ALIPAY_SELLER_ID');
  if (sellerIdRaw !== undefined && !/^2088[0-9]{12}$/.test(sellerIdRaw)) {
    fail('ALIPAY_SELLER_ID', 'must be the 16-digit merchant id starting with 2088');
  }

  let generatedKeys = false;
  let appPrivateKey: KeyObject | undefined;
  const appKeyText = inlineOrFile('ALIPAY_APP_PRIVATE_KEY');
  if (appKeyText !== undefined) {
    try {
      appPrivateKey = parsePrivateKey(appKeyText, 'the key');
      if (modulusBits(appPrivateKey) < 2048) fail('ALIPAY_APP_PRIVATE_KEY', 'must be an RSA key of at least 2048 bits');
    } catch (err) {
      fail('ALIPAY_APP_PRIVATE_KEY', err instanceof KeyFormatError ? err.message : 'does not parse');
    }
  } else if (sandbox) {
    appPrivateKey = parsePrivateKey(devSecrets().appPrivateKeyPem);
    generatedKeys = true;
  } else {
    fail('ALIPAY_APP_PRIVATE_KEY', 'is required when ALIPAY_GATEWAY is not sandbox');
  }

  // Certificate mode with a real Alipay: the three certificate files, instead of ALIPAY_PUBLIC_KEY.
  const certNames = ['ALIPAY_APP_CERT_PATH', 'ALIPAY_ROOT_CERT_PATH', 'ALIPAY_PUBLIC_CERT_PATH'] as const;
  const certsGiven = certNames.filter((name) => raw(name) !== undefined);
  let certificates: AlipayConfig['certificates'] = null;
  let alipayPublicKey: KeyObject | undefined;
  if (certsGiven.length > 0 && certsGiven.length < 3) {
    fail(certNames.find((n) => !certsGiven.includes(n))!, 'certificate mode needs ALIPAY_APP_CERT_PATH, ALIPAY_ROOT_CERT_PATH and ALIPAY_PUBLIC_CERT_PATH together');
  }
  const alipayKeyText = inlineOrFile('ALIPAY_PUBLIC_KEY');
  if (certsGiven.length === 3) {
    if (alipayKeyText !== undefined) fail('ALIPAY_PUBLIC_KEY', 'leave it unset in certificate mode: the key comes from ALIPAY_PUBLIC_CERT_PATH');
    const [appCert, root, alipayCert] = certNames.map((name) => readFile(name));
    try {
      if (appCert !== undefined && root !== undefined && alipayCert !== undefined) {
        const app = splitCertificates(appCert)[0];
        if (appPrivateKey && !sameKeyPair(app.publicKey, appPrivateKey)) {
          fail('ALIPAY_APP_CERT_PATH', 'the certificate is not for ALIPAY_APP_PRIVATE_KEY');
        }
        const alipay = splitCertificates(alipayCert)[0];
        alipayPublicKey = parsePublicKey(alipayCert, 'the certificate');
        certificates = { appCertSn: certSn(app), alipayRootCertSn: rootCertSn(root), alipayCertSn: certSn(alipay) };
      }
    } catch (err) {
      fail('ALIPAY_APP_CERT_PATH', err instanceof CertificateError || err instanceof KeyFormatError ? `a certificate file is unusable: ${err.message}` : 'a certificate file is unusable');
    }
  }

  let sandboxPrivateKey: KeyObject | null = null;
  let sandboxConfig: SandboxConfig | null = null;
  if (certsGiven.length === 0) {
    if (alipayKeyText !== undefined) {
      try {
        alipayPublicKey = parsePublicKey(alipayKeyText, 'the key');
      } catch (err) {
        fail('ALIPAY_PUBLIC_KEY', err instanceof KeyFormatError ? err.message : 'does not parse');
      }
    } else if (sandbox) {
      sandboxPrivateKey = parsePrivateKey(devSecrets().sandboxAlipayPrivateKeyPem);
      alipayPublicKey = createPublicKey(sandboxPrivateKey);
    } else {
      fail('ALIPAY_PUBLIC_KEY', 'is required when ALIPAY_GATEWAY is not sandbox');
    }
  }

  if (sandbox && (alipayKeyText !== undefined || certsGiven.length > 0)) {
    fail(
      alipayKeyText !== undefined ? 'ALIPAY_PUBLIC_KEY' : 'ALIPAY_PUBLIC_CERT_PATH',
      'leave it unset with ALIPAY_GATEWAY=sandbox: the local Alipay signs with its own generated key',
    );
  }
  if (sandbox) {
    const scaleText = raw('SANDBOX_TIME_SCALE') ?? '1';
    const timeScale = /^(0|1)(\.[0-9]{1,6})?$/.test(scaleText) ? Number(scaleText) : NaN;
    if (!(timeScale > 0 && timeScale <= 1)) fail('SANDBOX_TIME_SCALE', 'must be a number above 0 and at most 1, e.g. 0.001');
    const certMode = raw('SANDBOX_CERT_MODE') ?? 'false';
    if (!['true', 'false'].includes(certMode)) fail('SANDBOX_CERT_MODE', 'must be true or false');
    let sandboxCertificates: SandboxCertificates | null = null;
    if (certMode === 'true') {
      if (!sandboxPrivateKey) fail('SANDBOX_CERT_MODE', 'works only with the local Alipay\'s own key (leave ALIPAY_PUBLIC_KEY and the certificate paths unset)');
      else if (appPrivateKey) {
        const dev = devCertificates(dataDir, appPrivateKey, sandboxPrivateKey);
        const app = splitCertificates(dev.appCertPem)[0];
        const alipay = splitCertificates(dev.alipayCertPem)[0];
        sandboxCertificates = { rootPem: dev.rootPem, rootSn: rootCertSn(dev.rootPem), alipayCertPem: dev.alipayCertPem, alipayCertSn: certSn(alipay) };
        certificates = { appCertSn: certSn(app), alipayRootCertSn: sandboxCertificates.rootSn, alipayCertSn: sandboxCertificates.alipayCertSn };
      }
    }
    sandboxConfig = { timeScale: timeScale > 0 && timeScale <= 1 ? timeScale : 1, certificates: sandboxCertificates, controlToken: null };
  } else {
    for (const name of ['SANDBOX_TIME_SCALE', 'SANDBOX_CERT_MODE']) {
      if (raw(name) !== undefined) fail(name, 'applies only with ALIPAY_GATEWAY=sandbox');
    }
  }

  if (appPrivateKey && alipayPublicKey && sameKeyPair(appPrivateKey, alipayPublicKey)) {
    fail(
      certificates ? 'ALIPAY_PUBLIC_CERT_PATH' : 'ALIPAY_PUBLIC_KEY',
      "is your app's own public key (it matches ALIPAY_APP_PRIVATE_KEY); use the Alipay public key " +
        '(支付宝公钥) shown beside it in the Alipay open platform console',
    );
  }
  if (!appPrivateKey || !alipayPublicKey) return undefined;
  return {
    alipay: {
      appId,
      appPrivateKey,
      alipayPublicKey,
      signType,
      gateway,
      gatewayUrl,
      sellerId: sellerIdRaw ?? (sandbox ? SANDBOX_SELLER_ID : null),
      sandboxPrivateKey,
      generatedKeys,
      certificates,
    },
    sandbox: sandboxConfig,
  };
}

/** A one-line summary of the configuration that is safe to print (no secrets). */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    env: config.env,
    listen: `${config.host}:${config.port}`,
    publicUrl: config.publicUrl,
    database: config.databaseUrl ? 'DATABASE_URL' : `embedded under ${config.dataDir}`,
    jwt: config.jwt.kind === 'secret' ? (config.jwt.generated ? 'HS256 (generated dev secret)' : 'HS256') : config.jwt.kind,
    alipayGateway: config.alipay.gateway === 'sandbox' ? `local Alipay at ${config.alipay.gatewayUrl}` : config.alipay.gateway,
    alipayAppId: config.alipay.appId,
    orderTtlMinutes: config.orderTtlMs / 60_000,
    dbStatementTimeoutMs: config.dbLimits.statementTimeoutMs,
    dbAcquireTimeoutMs: config.dbLimits.acquireTimeoutMs,
    autoRefundUnwantedPayments: config.autoRefundUnwantedPayments,
    // The origin only: a webhook URL's path or query may carry a token.
    webhookUrl: config.webhooks.endpoint ? new URL(config.webhooks.endpoint.url).origin : null,
  };
}

function loadWebhookConfig(
  raw: (name: string) => string | undefined,
  fail: (variable: string, problem: string) => void,
  oneOf: <T extends string>(name: string, allowed: readonly T[], fallback: T) => T,
  integer: (name: string, fallback: number, min: number, max: number) => number,
  nodeEnv: string,
): WebhookConfig {
  const allowPrivateAsked = oneOf('WEBHOOK_ALLOW_PRIVATE', ['true', 'false'] as const, 'false') === 'true';
  const allowPrivate = nodeEnv !== 'production' || allowPrivateAsked;
  let endpoint: WebhookConfig['endpoint'] = null;
  const url = raw('WEBHOOK_URL');
  const secret = raw('WEBHOOK_SECRET');
  if (url !== undefined) {
    const parsed = httpUrl(url);
    const host = parsed?.hostname.replace(/^\[|\]$/g, '') ?? '';
    if (!parsed || url.length > 2048 || /[\s\u0000-\u001f]/.test(url)) fail('WEBHOOK_URL', 'must be an http(s) URL without user name or password, at most 2048 characters');
    else if (!allowPrivate && (isLoopback(parsed) || (isIP(host) && !isPublicAddress(host)))) {
      fail('WEBHOOK_URL', `${host} is a loopback, private or link-local address: refused in production unless WEBHOOK_ALLOW_PRIVATE=true`);
    }
    if (secret === undefined) fail('WEBHOOK_SECRET', 'is required with WEBHOOK_URL (whsec_ followed by the base64 of at least 24 random bytes)');
    else if (!isWebhookSecret(secret)) fail('WEBHOOK_SECRET', 'must be whsec_ followed by the base64 of at least 24 random bytes');
    else if (parsed) endpoint = { url, secret };
  } else if (secret !== undefined) {
    fail('WEBHOOK_URL', 'is required with WEBHOOK_SECRET');
  }
  const scheduleText = raw('WEBHOOK_RETRY_SCHEDULE') ?? DEFAULT_WEBHOOK_SCHEDULE;
  const retryScheduleMs = scheduleText.split(',').map((part) => parseWait(part.trim()));
  if (retryScheduleMs.length > 30 || retryScheduleMs.some((ms) => ms === null)) {
    fail('WEBHOOK_RETRY_SCHEDULE', 'must be up to 30 comma-separated waits such as 5s,5m,2h,1d');
  }
  const scaleText = raw('WEBHOOK_TIME_SCALE') ?? '1';
  const timeScale = /^(0|1)(\.[0-9]{1,6})?$/.test(scaleText) ? Number(scaleText) : NaN;
  if (!(timeScale > 0 && timeScale <= 1)) fail('WEBHOOK_TIME_SCALE', 'must be a number above 0 and at most 1, e.g. 0.001');
  return {
    endpoint,
    retryScheduleMs: retryScheduleMs.every((ms) => ms !== null) ? (retryScheduleMs as number[]) : [],
    timeScale: timeScale > 0 && timeScale <= 1 ? timeScale : 1,
    timeoutMs: integer('WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
    allowPrivate,
  };
}
