import { parseNotifyArgs, UsageError } from '../../src/dev/notify.cli';

describe('npm run dev:notify arguments', () => {
  it('sends TRADE_SUCCESS with the order’s own trade number unless told otherwise', () => {
    expect(parseNotifyArgs(['2026112500000000000001'])).toEqual({ order: '2026112500000000000001', status: 'TRADE_SUCCESS', tradeNo: null, resend: false, url: null });
  });

  it('takes another trade number on purpose with --trade-no, and a byte-for-byte repeat with --resend', () => {
    expect(parseNotifyArgs(['O1', '--trade-no', '2026112522001400000000000009', '--status', 'TRADE_FINISHED'])).toMatchObject({
      tradeNo: '2026112522001400000000000009',
      status: 'TRADE_FINISHED',
      resend: false,
    });
    expect(parseNotifyArgs(['O1', '--resend', '--url', 'http://127.0.0.1:4000/'])).toMatchObject({ resend: true, url: 'http://127.0.0.1:4000' });
  });

  it.each([
    ['--trade-no without a value', ['O1', '--trade-no'], '--trade-no needs a value'],
    ['an empty --trade-no', ['O1', '--trade-no', ''], '--trade-no must be'],
    ['a NUL in --trade-no', ['O1', '--trade-no', 'T\u0000'], '--trade-no must be'],
    ['a 65-character --trade-no', ['O1', '--trade-no', 'x'.repeat(65)], '--trade-no must be'],
    ['a path as --trade-no', ['O1', '--trade-no', '../../etc'], '--trade-no must be'],
    ['--resend with --status', ['O1', '--resend', '--status', 'TRADE_CLOSED'], '--resend repeats a recorded notify'],
    ['--resend with --trade-no', ['O1', '--resend', '--trade-no', 'T1'], '--resend repeats a recorded notify'],
    ['an ORDER of 100,000 characters', ['O'.repeat(100_000)], 'ORDER must be'],
    ['an option of 2,000 dashes', ['O1', '--'.repeat(1000)], 'unknown option'],
  ])('refuses %s with a clear message', (_label, argv, message) => {
    expect(() => parseNotifyArgs(argv as string[])).toThrow(UsageError);
    expect(() => parseNotifyArgs(argv as string[])).toThrow(message as string);
  });

  it('never echoes a huge unknown option in full', () => {
    try {
      parseNotifyArgs(['O1', `--${'a'.repeat(10_000)}`]);
      throw new Error('accepted');
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(100);
    }
  });
});
