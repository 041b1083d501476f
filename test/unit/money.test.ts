import { Money, MoneyError } from '../../src/common/money';

describe('Money', () => {
  it.each([
    ['0.01', 1n],
    ['88.88', 8888n],
    ['1.00', 100n],
    ['100000000.00', 10_000_000_000n],
    ['10.50', 1050n],
  ])('parses %s into %s fen', (text, fen) => {
    expect(Money.parse(text).fen).toBe(fen);
  });

  it.each(['1.234', '0', '0.00', '-1.00', '1e2', ' 1.00', '1.00 ', 'abc', '100000000.01', '1', '1.0', '01.00', '+1.00', '1,00', '１.00', '', '.50', '99999999999999999999.00', '0x10.00'])(
    'refuses %j',
    (text) => {
      expect(() => Money.parse(text)).toThrow(MoneyError);
    },
  );

  it.each([1.5, 2, null, undefined, {}, ['1.00']])('refuses the non-string %j', (value) => {
    expect(() => Money.parse(value)).toThrow('must be a string');
  });

  it('prints exactly two places and never goes through a float', () => {
    expect(Money.parse('0.10').toString()).toBe('0.10');
    expect(Money.parse('0.01').plus(Money.parse('0.02')).toString()).toBe('0.03');
    expect(Money.ofFen(10_000_000_000n).toString()).toBe('100000000.00');
    expect(JSON.stringify({ a: Money.parse('7.05') })).toBe('{"a":"7.05"}');
  });

  it('compares by value and refuses a negative result', () => {
    expect(Money.parse('1.10').equals(Money.parseDecimal('1.1')!)).toBe(true);
    expect(Money.parse('2.00').compare(Money.parse('1.99'))).toBe(1);
    expect(() => Money.parse('1.00').minus(Money.parse('1.01'))).toThrow(MoneyError);
  });

  it('reads other systems\' decimals leniently but never exponents or signs', () => {
    expect(Money.parseDecimal('0.1')!.fen).toBe(10n);
    expect(Money.parseDecimal('12')!.fen).toBe(1200n);
    for (const bad of ['1e2', '-1.00', '1.001', '', ' 1', 'NaN', '1.']) expect(Money.parseDecimal(bad)).toBeNull();
  });
});
