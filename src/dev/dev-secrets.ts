import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

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
