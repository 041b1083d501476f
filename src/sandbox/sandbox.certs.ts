import { createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * Just enough X.509 to run the local Alipay in certificate mode: a self-signed root, and certificates it issues
 * for the local Alipay's key and for apps' keys (RSA, sha256WithRSAEncryption, DER built by hand). Node's
 * X509Certificate reads them, and their SNs are computed exactly as for Alipay's real certificates.
 */

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, content: Buffer) => Buffer.concat([Buffer.from([tag]), length(content.length), content]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);

function integer(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a * 40 + b];
  for (const part of rest) {
    const groups: number[] = [];
    let v = part;
    do {
      groups.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(0x06, Buffer.from(out));
}

function utcTime(date: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  const text = `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(text, 'ascii'));
}

export interface DistinguishedName {
  C: string;
  O: string;
  OU?: string;
  CN: string;
}

function name(dn: DistinguishedName): Buffer {
  const rdn = (type: string, value: Buffer) => set(seq(oid(type), value));
  const parts = [rdn('2.5.4.6', tlv(0x13, Buffer.from(dn.C))), rdn('2.5.4.10', tlv(0x0c, Buffer.from(dn.O)))];
  if (dn.OU) parts.push(rdn('2.5.4.11', tlv(0x0c, Buffer.from(dn.OU))));
  parts.push(rdn('2.5.4.3', tlv(0x0c, Buffer.from(dn.CN))));
  return seq(...parts);
}

const SHA256_WITH_RSA = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));

/** Issues a certificate for `subjectKey`, signed by `issuerKey`. */
export function issueCertificate(options: {
  subject: DistinguishedName;
  subjectKey: KeyObject;
  issuer: DistinguishedName;
  issuerKey: KeyObject;
  ca?: boolean;
  years?: number;
}): string {
  const now = new Date();
  const notAfter = new Date(now.getTime() + (options.years ?? 10) * 365 * 86_400_000);
  const serial = BigInt(`0x${randomBytes(8).toString('hex')}`) | 1n;
  // The subject key may be the private key or, as an app registers it, only its public key.
  const subjectPublic = options.subjectKey.type === 'public' ? options.subjectKey : createPublicKey(options.subjectKey);
  const spki = subjectPublic.export({ format: 'der', type: 'spki' });
  const extensions = options.ca
    ? [explicit(3, seq(seq(oid('2.5.29.19'), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, seq(Buffer.from([0x01, 0x01, 0xff]))))))]
    : [];
  const tbs = seq(
    explicit(0, integer(2n)),
    integer(serial),
    SHA256_WITH_RSA,
    name(options.issuer),
    seq(utcTime(new Date(now.getTime() - 60_000)), utcTime(notAfter)),
    name(options.subject),
    spki,
    ...extensions,
  );
  const signature = sign('sha256', tbs, options.issuerKey);
  const der = seq(tbs, SHA256_WITH_RSA, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n').trim();
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

export const SANDBOX_ROOT_DN: DistinguishedName = { C: 'CN', O: 'Local Alipay', OU: 'Sandbox', CN: 'Local Alipay Root CA' };
export const SANDBOX_ALIPAY_DN: DistinguishedName = { C: 'CN', O: 'Local Alipay', OU: 'Sandbox', CN: 'Local Alipay Public Key' };
