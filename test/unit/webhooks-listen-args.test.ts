import { randomBytes } from 'node:crypto';
import { AttemptLog, jsonLine, parseListenArgs, printable, UsageError } from '../../src/dev/webhooks-listen.cli';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

describe('npm run webhooks:listen arguments', () => {
  it('listens on 127.0.0.1:4100/webhooks with no secret, no failures and human lines unless told otherwise', () => {
    expect(parseListenArgs([])).toEqual({ port: 4100, host: '127.0.0.1', secret: null, path: '/webhooks', fail: 0, json: false });
  });

  it('takes every flag, in both --flag value and --flag=value form', () => {
    expect(parseListenArgs(['--port', '8080', '--host', 'localhost', '--secret', SECRET, '--path', '/hooks/alipay', '--fail', '3', '--json'])).toEqual({
      port: 8080,
      host: 'localhost',
      secret: SECRET,
      path: '/hooks/alipay',
      fail: 3,
      json: true,
    });
    expect(parseListenArgs(['--port=65535', '--host=[::1]', `--secret=${SECRET}`])).toMatchObject({ port: 65535, host: '::1', secret: SECRET });
  });

  it('takes the port and secret from WEBHOOK_LISTEN_PORT and WEBHOOK_SECRET, which the flags override', () => {
    const env = { WEBHOOK_LISTEN_PORT: '4200', WEBHOOK_SECRET: SECRET };
    expect(parseListenArgs([], env)).toMatchObject({ port: 4200, secret: SECRET });
    const other = `whsec_${randomBytes(24).toString('base64')}`;
    expect(parseListenArgs(['--port', '4300', '--secret', other], env)).toMatchObject({ port: 4300, secret: other });
    expect(parseListenArgs([], { WEBHOOK_LISTEN_PORT: '', WEBHOOK_SECRET: '' })).toMatchObject({ port: 4100, secret: null });
  });

  // Every row has all four values: a test function taking more arguments than its row would get jest's done callback.
  it.each<[string, string[], string, Record<string, string>]>([
    ['an unknown flag', ['--verbose'], 'unknown option: --verbose', {}],
    ['a bare argument', ['4100'], 'unexpected argument: 4100', {}],
    ['--port without a value', ['--port'], '--port needs a value', {}],
    ['--port followed by another flag', ['--port', '--json'], '--port needs a value', {}],
    ['--port 0', ['--port', '0'], '--port must be a whole number from 1 to 65535', {}],
    ['--port 65536', ['--port', '65536'], '--port must be a whole number from 1 to 65535', {}],
    ['--port 80.5', ['--port', '80.5'], '--port must be', {}],
    ['--port -1', ['--port', '-1'], '--port', {}],
    ['--port 0x50', ['--port', '0x50'], '--port must be', {}],
    ['--port with a leading zero', ['--port', '08080'], '--port must be', {}],
    ['an empty --port=', ['--port='], '--port must be', {}],
    ['a bad WEBHOOK_LISTEN_PORT', [], 'WEBHOOK_LISTEN_PORT must be a whole number', { WEBHOOK_LISTEN_PORT: 'abc' }],
    ['--port given twice', ['--port', '1', '--port', '2'], '--port given twice', {}],
    ['--host without a value', ['--host'], '--host needs a value', {}],
    ['a host with a space', ['--host', 'local host'], '--host must be an IP address or a host name', {}],
    ['a host with a scheme', ['--host', 'http://127.0.0.1'], '--host must be', {}],
    ['a host with a port', ['--host', '127.0.0.1:80'], '--host must be', {}],
    ['a host label starting with a hyphen', ['--host', '-x.example'], '--host must be', {}],
    ['a 254-character host', ['--host', `${'a'.repeat(63)}.`.repeat(4).slice(0, 254)], '--host must be', {}],
    ['--secret without a value', ['--secret'], '--secret needs a value', {}],
    ['a secret without whsec_', ['--secret', randomBytes(32).toString('base64')], 'does not start with whsec_', {}],
    ['a secret that is not base64', ['--secret', 'whsec_not-base64!!'], 'the rest is not base64', {}],
    ['a secret of unpadded base64', ['--secret', `whsec_${randomBytes(32).toString('base64').replace(/=+$/, '')}`], 'the rest is not base64', {}],
    ['a secret of 23 bytes', ['--secret', `whsec_${randomBytes(23).toString('base64')}`], 'it holds only 23', {}],
    ['an empty secret', ['--secret', 'whsec_'], 'the rest is not base64', {}],
    ['a bad WEBHOOK_SECRET', [], 'WEBHOOK_SECRET must be whsec_', { WEBHOOK_SECRET: 'hunter2' }],
    ['a path without its /', ['--path', 'webhooks'], '--path must start with /', {}],
    ['a path with a query', ['--path', '/webhooks?x=1'], '--path must', {}],
    ['a path with a space', ['--path', '/web hooks'], '--path must', {}],
    ['--fail -1', ['--fail', '-1'], '--fail must be a whole number', {}],
    ['--fail two', ['--fail', 'two'], '--fail must be a whole number', {}],
    ['--json=yes', ['--json=yes'], '--json takes no value', {}],
    ['an option of 2,000 dashes', ['--'.repeat(1000)], 'unknown option', {}],
  ])('refuses %s with a clear message', (_label, argv, message, env) => {
    expect(() => parseListenArgs(argv, env)).toThrow(UsageError);
    expect(() => parseListenArgs(argv, env)).toThrow(message);
  });

  it('never repeats a refused secret in its message', () => {
    for (const secret of [`whsec_${randomBytes(20).toString('base64')}`, `whsec_${'A'.repeat(5000)}`, `sk_${'B'.repeat(40)}`]) {
      try {
        parseListenArgs(['--secret', secret]);
        throw new Error('accepted');
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        expect((err as Error).message).not.toContain(secret.slice(6, 20));
      }
    }
  });

  it('never echoes a huge or hostile unknown option in full or with its control characters', () => {
    try {
      parseListenArgs([`--\u001b[2J${'a'.repeat(10_000)}`]);
      throw new Error('accepted');
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(100);
      expect((err as Error).message).not.toContain('\u001b');
    }
  });
});

describe('webhooks:listen output and memory', () => {
  it('strips control and invisible format characters from printed text', () => {
    expect(printable('a\u001b[31mb\u009bc\u0007d\u202ee\r\nf\u2028g\u0000')).toBe('a[31mbcdefg');
    expect(printable('订单 ¥0.01 ✓')).toBe('订单 ¥0.01 ✓');
  });

  it('writes JSON lines that keep the data but hold no raw C1 or bidi characters', () => {
    const value = { s: 'x\u001b\u009b\u202e\u2028y' };
    const line = jsonLine(value);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e\u2028]/);
    expect(JSON.parse(line)).toEqual(value);
  });

  it('counts attempts per webhook-id and forgets the least recently seen ids beyond its capacity', () => {
    const log = new AttemptLog(3);
    expect(log.record('a')).toEqual({ attempt: 1, retryAfter2xx: false });
    log.answered2xx('a');
    expect(log.record('a')).toEqual({ attempt: 2, retryAfter2xx: true });
    log.record('b');
    log.record('c');
    log.record('a'); // a is now the most recently seen
    log.record('d'); // b goes
    expect(log.size).toBe(3);
    expect(log.record('a').attempt).toBe(4);
    expect(log.record('b').attempt).toBe(1);
    for (let i = 0; i < 10_000; i++) log.record(`x${i}`);
    expect(log.size).toBe(3);
  });

  it('keeps a bounded key for a very long webhook-id', () => {
    const log = new AttemptLog(2);
    const long = 'i'.repeat(100_000);
    expect(log.record(long).attempt).toBe(1);
    expect(log.record(long).attempt).toBe(2);
    expect(log.record(`${long}j`).attempt).toBe(1);
  });
});
