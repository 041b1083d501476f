import { createLogger, rateLimitedWarning, redact } from '../../src/common/logger';

describe('the logger', () => {
  it('redacts values under secret-looking names, at any depth', () => {
    const lines: string[] = [];
    const log = createLogger('debug', (line) => void lines.push(line));
    log.info('x', { sign: 'S1GN', nested: { privateKey: 'PEM', token: 'T0K', authorization: 'Bearer a' }, orderNo: '123' });
    expect(lines[0]).not.toMatch(/S1GN|PEM|T0K|Bearer a/);
    expect(JSON.parse(lines[0])).toMatchObject({ msg: 'x', orderNo: '123', sign: '[redacted]', nested: { privateKey: '[redacted]' } });
  });

  it('logs a database error without the SQL text or the detail that carry the values', () => {
    const error = Object.assign(new Error('insert into "callback_logs" ("raw") values (E\'\\\\x7369676e3d534543524554\') - invalid byte sequence for encoding "UTF8": 0x00'), {
      code: '22021',
      severity: 'ERROR',
      routine: 'report_invalid_encoding',
      detail: 'Key (sign)=(SECRET) already exists',
    });
    const out = JSON.stringify(redact(error));
    expect(out).toContain('invalid byte sequence');
    expect(out).toContain('22021');
    expect(out).not.toMatch(/insert into|SECRET|7369676e/);
  });

  it('stays quiet below its level', () => {
    const lines: string[] = [];
    createLogger('warn', (line) => void lines.push(line)).info('hidden');
    expect(lines).toEqual([]);
  });
});

describe('rate-limited warnings', () => {
  it('writes a warning that fires per request at most once per interval, saying how many it stood for', () => {
    const lines: string[] = [];
    const warn = rateLimitedWarning(createLogger('debug', (l) => void lines.push(l)), 'database unavailable', 60_000);
    for (let i = 0; i < 500; i++) warn({ orderNo: `O${i}` });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'warn', msg: 'database unavailable', orderNo: 'O0' });
  });

  it('writes again after the interval, with the count of the ones it held back', async () => {
    const lines: string[] = [];
    const warn = rateLimitedWarning(createLogger('debug', (l) => void lines.push(l)), 'db down', 20);
    warn();
    warn();
    warn();
    await new Promise((r) => setTimeout(r, 30));
    warn();
    expect(lines.map((l) => JSON.parse(l).alsoSinceLastLine)).toEqual([undefined, 2]);
  });
});

describe('pretty lines for a developer', () => {
  it('writes colored, human-readable lines (pino-pretty) with secrets still redacted', () => {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const path = require('node:path') as typeof import('node:path');
    const root = path.resolve(__dirname, '../..');
    const out = execFileSync(
      process.execPath,
      ['-r', './scripts/swc-register.js', '-e', `require('./src/common/logger').createLogger('info', undefined, {}, { pretty: true }).info('order paid', { orderNo: '2026', amount: '0.01', token: 'T0K3N' })`],
      { cwd: root, encoding: 'utf8' },
    );
    expect(out).toContain('order paid');
    expect(out).toContain('"orderNo":"2026"');
    expect(out).toMatch(/\u001b\[\d+m/); // colored
    expect(out).not.toContain('T0K3N');
    expect(() => JSON.parse(out)).toThrow();
  });
});
