import pino from 'pino';

/**
 * The service's logger: pino, JSON lines (readable colored lines with `pretty`, for a developer's terminal). Values
 * under secret-looking names are redacted at any depth before anything is written — pino's path redaction for
 * the headers we know, and our name rule for everything else (pino's paths cannot say "any depth") — so a key,
 * token or signature passed by mistake never reaches the log.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const SECRET_NAME = /(sign$|^sign_|secret|password|passwd|token|authorization|private|key$|cookie)/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  /** Whether a line at this level would be written (to skip building fields nobody reads). */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean;
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

export interface LoggerOptions {
  /** Colored, human-readable lines (pino-pretty) instead of JSON: for a terminal in development. */
  pretty?: boolean;
}

/**
 * A logger at `level` writing whole lines to `write` (stdout by default). `base` fields go on every line.
 */
export function createLogger(
  level: LogLevel = 'info',
  write?: (line: string) => void,
  base: Record<string, unknown> = {},
  options: LoggerOptions = {},
): Logger {
  const destination = write ? { write } : options.pretty ? prettyStream() : pino.destination({ dest: 1, sync: true });
  const root = pino(
    {
      level,
      base: { pid: process.pid, ...(redact(base) as object) },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: {
        level: (label) => ({ level: label }),
        // Every line's own fields (child bindings are redacted when bound, below).
        log: (fields) => redact(fields) as Record<string, unknown>,
      },
      redact: { paths: ['headers.authorization', 'headers.cookie', 'req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    },
    destination,
  );
  return wrap(root);
}

function wrap(log: pino.Logger): Logger {
  return {
    debug: (msg, fields) => log.debug(fields ?? {}, msg),
    info: (msg, fields) => log.info(fields ?? {}, msg),
    warn: (msg, fields) => log.warn(fields ?? {}, msg),
    error: (msg, fields) => log.error(fields ?? {}, msg),
    child: (fields) => wrap(log.child(redact(fields) as Record<string, unknown>)),
    enabled: (level) => log.isLevelEnabled(level),
  };
}

/** pino-pretty as a stream in this thread (no worker): loaded only when asked for, in development. */
function prettyStream(): pino.DestinationStream {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pretty = require('pino-pretty') as (options: Record<string, unknown>) => pino.DestinationStream;
  return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true, sync: true });
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
