import { compareByteOrder, type Params } from './alipay.signer';

/**
 * application/x-www-form-urlencoded, decoded exactly once and byte-exact: `+` becomes a space and `%XX` a byte,
 * then the bytes are decoded as UTF-8, strictly. Nothing is trimmed, unescaped twice or HTML-escaped, so the
 * values are the ones Alipay signed. Only utf-8 is accepted: this service always asks Alipay for charset=utf-8,
 * and a signature over GBK bytes could not be checked against UTF-8 text.
 */
export class FormError extends Error {
  override name = 'FormError';
}

export interface ParseFormOptions {
  /** Refuse messages with more fields than this (default 200). */
  maxFields?: number;
}

const FIELD_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const CHARSETS: Record<string, string> = { 'utf-8': 'utf-8', utf8: 'utf-8' };

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

function percentDecode(raw: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const byte = raw[i];
    if (byte === 0x2b) {
      out[n++] = 0x20;
    } else if (byte === 0x25) {
      const hi = i + 2 < end ? hexValue(raw[i + 1]) : -1;
      const lo = i + 2 < end ? hexValue(raw[i + 2]) : -1;
      if (hi < 0 || lo < 0) throw new FormError('malformed percent-encoding');
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[n++] = byte;
    }
  }
  return out.subarray(0, n);
}

/** Parses a form body (or a URL query string) into a null-prototype record. Duplicate names are an error. */
export function parseForm(input: Buffer | string, options: ParseFormOptions = {}): Record<string, string> {
  const raw = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const maxFields = options.maxFields ?? 200;
  const pairs: Array<[string, Buffer]> = [];
  let start = 0;
  while (start <= raw.length) {
    let end = raw.indexOf(0x26, start);
    if (end < 0) end = raw.length;
    if (end > start) {
      if (pairs.length >= maxFields) throw new FormError(`more than ${maxFields} fields`);
      let eq = raw.indexOf(0x3d, start);
      if (eq < 0 || eq > end) eq = end;
      const name = percentDecode(raw, start, eq).toString('latin1');
      if (!FIELD_NAME.test(name)) throw new FormError('malformed field name');
      pairs.push([name, percentDecode(raw, Math.min(eq + 1, end), end)]);
    }
    start = end + 1;
  }

  const charsetField = pairs.find(([name]) => name === 'charset');
  const declared = charsetField ? charsetField[1].toString('latin1').toLowerCase() : 'utf-8';
  const charset = CHARSETS[declared];
  if (!charset) throw new FormError('unsupported charset');
  // ignoreBOM: a value that begins with U+FEFF is kept byte-exact (the signature covers it).
  const decoder = new TextDecoder(charset, { fatal: true, ignoreBOM: true });

  const fields: Record<string, string> = Object.create(null);
  for (const [name, bytes] of pairs) {
    if (name in fields) throw new FormError(`field ${name} appears twice`);
    try {
      fields[name] = decoder.decode(bytes);
    } catch {
      throw new FormError(`field ${name} is not valid ${charset}`);
    }
  }
  return fields;
}

/** Percent-encodes parameters as a query string or form body (`+ / =` included), names in byte order. */
export function encodeForm(params: Params): string {
  const names = Object.keys(params).filter((name) => params[name] !== undefined && params[name] !== '');
  names.sort(compareByteOrder);
  return names.map((name) => `${encodeURIComponent(name)}=${encodeURIComponent(params[name] as string)}`).join('&');
}
