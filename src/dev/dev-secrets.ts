import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { issueCertificate, SANDBOX_ALIPAY_DN, SANDBOX_ROOT_DN } from '../sandbox/sandbox.certs';

/**
 * Development secrets, generated on first use and kept under DATA_DIR/keys (mode 0600, never committed):
 * the app's RSA key pair, the local Alipay's RSA key pair, and an HS256 JWT secret.
 */
export interface DevSecrets {
  appPrivateKeyPem: string;
  sandboxAlipayPrivateKeyPem: string;
  jwtSecret: string;
}

/** The local Alipay's app id for this service in development, and its merchant (seller) id. */
export const SANDBOX_APP_ID = '9021000000000001';
export const SANDBOX_SELLER_ID = '2088000000000001';

function readOrCreate(file: string, create: () => string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const value = create();
  // DATA_DIR itself stays passable (0711): as root, the postgres OS user must reach DATA_DIR/postgres.
  fs.mkdirSync(path.dirname(path.dirname(file)), { recursive: true, mode: 0o711 });
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, value, { mode: 0o600, flag: 'wx' });
    return value;
  } catch (err) {
    // Another process created it first: use theirs, so both agree.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8');
    throw err;
  }
}

function newRsaPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function devSecretsPath(dataDir: string): string {
  return path.join(dataDir, 'keys');
}

/** Loads the development secrets under dataDir, creating the missing ones. */
export function loadDevSecrets(dataDir: string): DevSecrets {
  const dir = devSecretsPath(dataDir);
  return {
    appPrivateKeyPem: readOrCreate(path.join(dir, 'app-private-key.pem'), newRsaPrivateKeyPem),
    sandboxAlipayPrivateKeyPem: readOrCreate(path.join(dir, 'sandbox-alipay-private-key.pem'), newRsaPrivateKeyPem),
    jwtSecret: readOrCreate(path.join(dir, 'jwt-secret'), () => randomBytes(32).toString('base64url')).trim(),
  };
}

/** Certificate-mode material for the local Alipay and the app, generated under DATA_DIR/keys/certs. */
export interface DevCertificates {
  rootPem: string;
  alipayCertPem: string;
  appCertPem: string;
}

/**
 * The local Alipay's root and public-key certificates, and a certificate for the app key, issued by that root.
 * The app certificate is per app key (a new key gets a new certificate).
 */
export function loadDevCertificates(dataDir: string, appKey: KeyObject, sandboxKey: KeyObject): DevCertificates {
  const dir = path.join(devSecretsPath(dataDir), 'certs');
  const rootKeyPem = readOrCreate(path.join(dir, 'root-key.pem'), newRsaPrivateKeyPem);
  const rootKey = createPrivateKey(rootKeyPem);
  const rootPem = readOrCreate(path.join(dir, 'root.crt'), () =>
    issueCertificate({ subject: SANDBOX_ROOT_DN, subjectKey: rootKey, issuer: SANDBOX_ROOT_DN, issuerKey: rootKey, ca: true }),
  );
  const tag = (key: KeyObject) =>
    createHash('sha256').update(createPublicKey(key).export({ format: 'der', type: 'spki' })).digest('hex').slice(0, 12);
  const alipayCertPem = readOrCreate(path.join(dir, `alipay-${tag(sandboxKey)}.crt`), () =>
    issueCertificate({ subject: SANDBOX_ALIPAY_DN, subjectKey: sandboxKey, issuer: SANDBOX_ROOT_DN, issuerKey: rootKey }),
  );
  const appCertPem = readOrCreate(path.join(dir, `app-${tag(appKey)}.crt`), () =>
    issueCertificate({ subject: { C: 'CN', O: 'Local Alipay merchant', OU: 'Sandbox', CN: 'App public key' }, subjectKey: appKey, issuer: SANDBOX_ROOT_DN, issuerKey: rootKey }),
  );
  return { rootPem, alipayCertPem, appCertPem };
}
