import { createPrivateKey, createPublicKey, KeyObject, X509Certificate } from 'node:crypto';

/**
 * Keys in every shape Alipay and merchants hand them out, parsed once into KeyObjects:
 * - private keys: PEM PKCS#1 (`BEGIN RSA PRIVATE KEY`), PEM PKCS#8 (`BEGIN PRIVATE KEY`), or the bare base64 body
 *   of either (what Alipay's key tool emits), with or without line breaks, also with literal `\n` from .env files;
 * - public keys: PEM SPKI (`BEGIN PUBLIC KEY`), PEM PKCS#1 (`BEGIN RSA PUBLIC KEY`), an X.509 certificate, or the
 *   bare base64 of any of them.
 * Errors never include the key material.
 */
export class KeyFormatError extends Error {
  override name = 'KeyFormatError';
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/;

interface Decoded {
  label: string | null;
  der: Buffer;
}

function decode(input: string, what: string): Decoded {
  const text = input.replace(/\\r|\\n/g, '\n').trim();
  if (text === '') throw new KeyFormatError(`${what} is empty`);
  const block = PEM_BLOCK.exec(text);
  let label: string | null = null;
  let body = text;
  if (block) {
    label = block[1];
    body = block[2];
    if (/Proc-Type:\s*4,ENCRYPTED/i.test(body) || label.includes('ENCRYPTED')) {
      throw new KeyFormatError(`${what} is encrypted; give the key without a passphrase`);
    }
  } else if (text.includes('-----')) {
    throw new KeyFormatError(`${what} has a PEM header without a matching footer`);
  }
  const base64 = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    throw new KeyFormatError(`${what} is neither PEM nor base64`);
  }
  return { label, der: Buffer.from(base64, 'base64') };
}

function requireRsa(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new KeyFormatError(`${what} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; Alipay RSA/RSA2 needs RSA`);
  }
  return key;
}

function firstThatParses<T>(attempts: Array<() => T>): T | undefined {
  for (const attempt of attempts) {
    try {
      return attempt();
    } catch {
      // try the next encoding
    }
  }
  return undefined;
}

/** Parses an RSA private key (PKCS#1 or PKCS#8, PEM or bare base64). */
export function parsePrivateKey(input: string, what = 'the private key'): KeyObject {
  const { label, der } = decode(input, what);
  const asPkcs8 = () => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const asPkcs1 = () => createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });
  let key: KeyObject | undefined;
  if (label === 'PRIVATE KEY') key = firstThatParses([asPkcs8]);
  else if (label === 'RSA PRIVATE KEY') key = firstThatParses([asPkcs1]);
  else if (label === null) key = firstThatParses([asPkcs8, asPkcs1]);
  else throw new KeyFormatError(`${what} is a PEM "${label}", not a private key`);
  if (!key) throw new KeyFormatError(`${what} does not parse as an RSA private key (PKCS#1 or PKCS#8)`);
  return requireRsa(key, what);
}

/** Parses an RSA public key (SPKI, PKCS#1 or an X.509 certificate; PEM or bare base64). */
export function parsePublicKey(input: string, what = 'the public key'): KeyObject {
  const { label, der } = decode(input, what);
  const asSpki = () => createPublicKey({ key: der, format: 'der', type: 'spki' });
  const asPkcs1 = () => createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
  const asCert = () => new X509Certificate(der).publicKey;
  let key: KeyObject | undefined;
  if (label === 'PUBLIC KEY') key = firstThatParses([asSpki]);
  else if (label === 'RSA PUBLIC KEY') key = firstThatParses([asPkcs1]);
  else if (label === 'CERTIFICATE') key = firstThatParses([asCert]);
  else if (label === null) key = firstThatParses([asSpki, asPkcs1, asCert]);
  else if (label.includes('PRIVATE KEY')) {
    throw new KeyFormatError(`${what} is a private key; give the public key here`);
  } else throw new KeyFormatError(`${what} is a PEM "${label}", not a public key`);
  if (!key) throw new KeyFormatError(`${what} does not parse as an RSA public key (SPKI, PKCS#1 or certificate)`);
  return requireRsa(key, what);
}

/** The SPKI DER of a public key, or of a private key's public half: equal bytes mean the same key pair. */
export function publicKeyFingerprint(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' });
}

/** True when both keys belong to the same key pair. */
export function sameKeyPair(a: KeyObject, b: KeyObject): boolean {
  return publicKeyFingerprint(a).equals(publicKeyFingerprint(b));
}

/** The modulus size in bits of an RSA key. */
export function modulusBits(key: KeyObject): number {
  return key.asymmetricKeyDetails?.modulusLength ?? 0;
}
