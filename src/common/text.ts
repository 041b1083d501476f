/** Checks on free text that will be signed and sent to Alipay: well-formed Unicode, no control or invisible format characters. */

/** C0 and C1 control characters (NUL among them, which PostgreSQL refuses in text outright). */
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const LINE_SEPARATORS = /[\u2028\u2029]/;
/**
 * Invisible format characters (Unicode category Cf: U+FEFF, U+200B, bidi overrides, soft hyphen, …): they make two
 * subjects look the same, can hide or reorder text on the cashier, and a leading U+FEFF is stripped by careless
 * decoders so signatures stop matching. U+200D (zero-width joiner) stays allowed: emoji sequences need it.
 */
const FORMAT = /(?!\u200d)\p{Cf}/u;

/** The length in Unicode code points (what Alipay and PostgreSQL's varchar count), not UTF-16 units. */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Returns a problem with the text, or null when it is acceptable. */
export function textProblem(text: string, min: number, max: number): string | null {
  if (text.length > max * 2) return `must be at most ${max} characters`;
  if (!text.isWellFormed()) return 'must be valid Unicode text';
  if (CONTROL_CHARACTERS.test(text) || LINE_SEPARATORS.test(text)) return 'must not contain control characters or line breaks';
  const format = FORMAT.exec(text);
  if (format) return `must not contain invisible format characters (found U+${format[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`;
  const length = codePointLength(text);
  if (length < min) return min === 1 ? 'must not be empty' : `must be at least ${min} characters`;
  if (length > max) return `must be at most ${max} characters`;
  if (text.trim() === '') return 'must not be only spaces';
  return null;
}

/** What a client may use as an idempotency key: letters, digits, _ - : . and at most 64 of them. */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9_\-:.]{1,64}$/;

/** A UUID as PostgreSQL's uuid type accepts it: anything else is no id of ours (and must not reach a uuid cast). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
