import { sign as cryptoSign, verify as cryptoVerify, KeyObject } from 'node:crypto';

/** `RSA2` = SHA256withRSA, `RSA` = SHA1withRSA (legacy); both PKCS#1 v1.5. */
export type SignType = 'RSA2' | 'RSA';

export const SIGN_TYPES: readonly SignType[] = ['RSA2', 'RSA'];

const DIGEST: Record<SignType, string> = { RSA2: 'sha256', RSA: 'sha1' };

/** Parameters as Alipay sees them: names to raw (decoded) values. Absent and empty values are not signed. */
export type Params = Readonly<Record<string, string | undefined>>;

/**
 * Orders two strings by Unicode code point, which is the byte order of their UTF-8 encodings. Plain `<` compares
 * UTF-16 code units and differs for characters above U+FFFF; the shift below maps code units to code-point order.
 */
export function compareByteOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x += x >= 0xe000 ? -0x800 : 0x2000;
    if (y >= 0xd800) y += y >= 0xe000 ? -0x800 : 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * The string Alipay signs: every parameter except the omitted names and those with an empty or absent value,
 * sorted by name in byte order, joined as `name=value` with `&`. Values are raw: no encoding, no trimming.
 */
export function canonicalString(params: Params, omit: ReadonlySet<string>): string {
  const names: string[] = [];
  for (const name of Object.keys(params)) {
    const value = params[name];
    if (value === undefined || value === '' || omit.has(name)) continue;
    names.push(name);
  }
  names.sort(compareByteOrder);
  let out = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += '&';
    out += `${names[i]}=${params[names[i]]}`;
  }
  return out;
}

/** Request signing omits only `sign`; `sign_type` is signed. */
export const REQUEST_OMIT: ReadonlySet<string> = new Set(['sign']);
/** Trade notifies and returns ("V1"): `sign` and `sign_type` are both left out. */
export const CALLBACK_V1_OMIT: ReadonlySet<string> = new Set(['sign', 'sign_type']);

/** Signs text with RSA/RSA2 on libuv's thread pool; resolves to base64 without line breaks. */
export function signText(text: string, key: KeyObject, signType: SignType): Promise<string> {
  return new Promise((resolve, reject) => {
    cryptoSign(DIGEST[signType], Buffer.from(text, 'utf8'), key, (err, signature) => {
      if (err) reject(new Error(`signing failed: ${err.message}`));
      else resolve(signature.toString('base64'));
    });
  });
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Verifies a base64 signature over text on libuv's thread pool. Malformed signatures (not base64, wrong length
 * for the key) are simply false: a callback's content never makes verification throw.
 */
export function verifyText(text: string, signature: string, key: KeyObject, signType: SignType): Promise<boolean> {
  if (signature.length === 0 || signature.length > 2048 || signature.length % 4 !== 0 || !BASE64.test(signature)) {
    return Promise.resolve(false);
  }
  const bytes = Buffer.from(signature, 'base64');
  const modulusBytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (bytes.length !== modulusBytes) return Promise.resolve(false);
  return new Promise((resolve) => {
    cryptoVerify(DIGEST[signType], Buffer.from(text, 'utf8'), key, bytes, (err, ok) => resolve(!err && ok));
  });
}

/** Signs request parameters; returns the `sign` value. `sign_type` must already be among the parameters. */
export function signParams(params: Params, key: KeyObject, signType: SignType): Promise<string> {
  return signText(canonicalString(params, REQUEST_OMIT), key, signType);
}

/** Which rule a callback verified under: V1 (trade notifies, returns) or V2 (app-gateway messages). */
export type CallbackRule = 'V1' | 'V2';

/**
 * Verifies an Alipay callback (async notify or sync return) with Alipay's public key. Tries the V1 rule (sign
 * and sign_type removed) and then V2 (sign_type kept). `sign_type` must be the expected one: a message signed
 * under another algorithm is refused rather than checked with a weaker digest.
 */
export async function verifyCallback(
  params: Params,
  alipayPublicKey: KeyObject,
  expected: SignType,
): Promise<CallbackRule | null> {
  const signature = params.sign;
  if (!signature) return null;
  if (params.sign_type !== undefined && params.sign_type !== expected) return null;
  if (await verifyText(canonicalString(params, CALLBACK_V1_OMIT), signature, alipayPublicKey, expected)) return 'V1';
  if (params.sign_type === undefined) return null;
  if (await verifyText(canonicalString(params, REQUEST_OMIT), signature, alipayPublicKey, expected)) return 'V2';
  return null;
}
