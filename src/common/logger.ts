/**
 * A small JSON-lines logger. Field names that look like secrets are redacted before anything is written, so a
 * key, token or signature passed by mistake never reaches the log.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SECRET_NAME = /(sign$|^sign_|secret|password|passwd|token|authorization|private|key$|cookie)/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/**
 * A database error as it is safe to log: the driver's own message and codes, never the SQL text or the `detail`,
 * which carry the statement's values (a callback's raw body, a signature).
 */
function databaseError(error: Error & Record<string, unknown>): Record<string, unknown> {
  const message = error.message.includes(' - ') ? error.message.slice(error.message.lastIndexOf(' - ') + 3) : error.message;
  return { name: error.name, message: message.slice(0, 300), code: error.code, constraint: error.constraint, table: error.table };
}

const isDatabaseError = (error: Error & Record<string, unknown>) =>
  typeof error.code === 'string' && /^[0-9A-Z]{5}$/.test(error.code) && ('severity' in error || 'routine' in error);

/** Replaces values under secret-looking names with "[redacted]", recursively; errors become name + message. */
export function redact(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    const error = value as Error & Record<string, unknown>;
    if (isDatabaseError(error)) return databaseError(error);
    return { name: value.name, message: value.message, ...(depth === 0 && value.stack ? { stack: value.stack } : {}) };
  }
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (depth > 4) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_NAME.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stdout.write(line),
  base: Record<string, unknown> = {},
): Logger {
  const min = RANK[level];
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < min) return;
    const record = { time: new Date().toISOString(), level: lvl, msg, ...(redact({ ...base, ...fields }) as object) };
    write(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}

/**
 * A warning that may fire once per request during an outage: written at most once per `intervalMs`, with the
 * number of occurrences it stood for, so a database outage under load is a few lines, not thousands.
 */
export function rateLimitedWarning(logger: Logger, msg: string, intervalMs = 1000): (fields?: Record<string, unknown>) => void {
  let last = 0;
  let suppressed = 0;
  return (fields = {}) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    logger.warn(msg, suppressed ? { ...fields, alsoSinceLastLine: suppressed } : fields);
    last = now;
    suppressed = 0;
  };
}
