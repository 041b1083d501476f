/**
 * Alipay gateway responses: `{"<method with _>_response": {...}, "sign": "...", "alipay_cert_sn"?: "..."}`.
 * The signed content is the raw text of the `_response` member's value exactly as received, so it is cut out of
 * the text by a small quote- and escape-aware scanner, never re-serialized from parsed JSON.
 */
export class ResponseFormatError extends Error {
  override name = 'ResponseFormatError';
}

/** The byte span [start, end) of each top-level member's value in a JSON object text, by member name. */
export function topLevelMembers(text: string): Map<string, { start: number; end: number }> {
  const members = new Map<string, { start: number; end: number }>();
  let i = skipSpace(text, 0);
  if (text[i] !== '{') throw new ResponseFormatError('response is not a JSON object');
  i = skipSpace(text, i + 1);
  if (text[i] === '}') return members;
  for (;;) {
    if (text[i] !== '"') throw new ResponseFormatError('expected a member name');
    const nameEnd = skipString(text, i);
    const name = JSON.parse(text.slice(i, nameEnd)) as string;
    i = skipSpace(text, nameEnd);
    if (text[i] !== ':') throw new ResponseFormatError('expected ":"');
    const start = skipSpace(text, i + 1);
    const end = skipValue(text, start);
    members.set(name, { start, end });
    i = skipSpace(text, end);
    if (text[i] === ',') {
      i = skipSpace(text, i + 1);
      continue;
    }
    if (text[i] === '}') return members;
    throw new ResponseFormatError('expected "," or "}"');
  }
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
}

/** From an opening quote, the index just past the closing quote. */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === '"') return j + 1;
  }
  throw new ResponseFormatError('unterminated string');
}

/** From the start of any JSON value, the index just past its end. */
function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text[j];
      if (d === '"') j = skipString(text, j) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new ResponseFormatError('unterminated object or array');
  }
  let j = i;
  while (j < text.length && !/[,}\]\s]/.test(text[j])) j++;
  if (j === i) throw new ResponseFormatError('expected a value');
  return j;
}

/** The member that carries a method's answer: `<method with _>_response`, or `error_response` on gateway errors. */
export function responseMemberName(method: string): string {
  return `${method.replace(/\./g, '_')}_response`;
}

export interface SplitResponse {
  /** The raw signed text of the `_response` value. */
  content: string;
  /** The parsed `_response` value. */
  body: Record<string, unknown>;
  sign: string | null;
  alipayCertSn: string | null;
}

/** Splits a raw gateway response into its signed content, parsed body and signature. */
export function splitResponse(raw: string, method: string): SplitResponse {
  let members: Map<string, { start: number; end: number }>;
  try {
    members = topLevelMembers(raw);
  } catch (err) {
    if (err instanceof ResponseFormatError) throw err;
    throw new ResponseFormatError('response is not valid JSON');
  }
  const span = members.get(responseMemberName(method)) ?? members.get('error_response');
  if (!span) throw new ResponseFormatError(`response has no ${responseMemberName(method)} member`);
  const content = raw.slice(span.start, span.end);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ResponseFormatError('response is not valid JSON');
  }
  const whole = parsed as Record<string, unknown>;
  const body = JSON.parse(content) as unknown;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ResponseFormatError('the _response member is not an object');
  }
  const sign = typeof whole.sign === 'string' ? whole.sign : null;
  const certSn = typeof whole.alipay_cert_sn === 'string' ? whole.alipay_cert_sn : null;
  return { content, body: body as Record<string, unknown>, sign, alipayCertSn: certSn };
}
