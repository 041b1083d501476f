import { encodeForm, FormError, parseForm } from '../../src/alipay/alipay.form';
import { beijingTime, parseBeijingTime } from '../../src/alipay/alipay.time';
import { codePointLength, textProblem } from '../../src/common/text';

describe('Beijing time', () => {
  const instant = new Date('2026-11-25T21:02:44.123Z');

  it('formats an instant as yyyy-MM-dd HH:mm:ss at UTC+8, across the date line', () => {
    expect(beijingTime(instant)).toBe('2026-11-26 05:02:44');
  });

  it('gives the same text whatever the host time zone is', () => {
    const original = process.env.TZ;
    try {
      const seen = ['UTC', 'America/Los_Angeles', 'Asia/Shanghai', 'Pacific/Kiritimati'].map((tz) => {
        process.env.TZ = tz;
        return beijingTime(instant);
      });
      expect(new Set(seen)).toEqual(new Set(['2026-11-26 05:02:44']));
    } finally {
      process.env.TZ = original;
    }
  });

  it('reads Alipay times back into the same instant, and refuses impossible dates', () => {
    expect(parseBeijingTime('2019-08-15 15:56:24')!.toISOString()).toBe('2019-08-15T07:56:24.000Z');
    for (const bad of ['2019-02-30 10:00:00', '2019-08-15T15:56:24', '2019-08-15 24:00:00', '', 'yesterday']) {
      expect(parseBeijingTime(bad)).toBeNull();
    }
  });
});

describe('form decoding', () => {
  it('decodes exactly once: + is a space, %2B is a plus, %25 stays a percent sign', () => {
    expect(parseForm('a=x+y&b=x%2By&c=100%25&d=%E4%B8%AD')).toEqual({ a: 'x y', b: 'x+y', c: '100%', d: '中' });
  });

  it('keeps values byte-exact: no trimming, empty values kept as empty', () => {
    expect(parseForm('a=%20padded%20&b=')).toEqual({ a: ' padded ', b: '' });
  });

  it('refuses a gbk message rather than checking its signature over the wrong bytes', () => {
    expect(() => parseForm('charset=gbk&subject=%C4%E3%BA%C3')).toThrow('unsupported charset');
  });

  it.each([
    ['a=%zz', 'malformed percent-encoding'],
    ['a=%E4%B8', 'not valid utf-8'],
    ['a=1&a=2', 'appears twice'],
    ['%00=1', 'malformed field name'],
    ['a b=1', 'malformed field name'],
    ['charset=latin1&a=1', 'unsupported charset'],
  ])('refuses %j (%s)', (body, message) => {
    expect(() => parseForm(body)).toThrow(FormError);
    expect(() => parseForm(body)).toThrow(message);
  });

  it('refuses too many fields', () => {
    const body = Array.from({ length: 201 }, (_, i) => `f${i}=1`).join('&');
    expect(() => parseForm(body)).toThrow('more than 200 fields');
  });

  it('keeps a value that begins with U+FEFF byte-exact (the decoder must not strip it as a BOM)', () => {
    const fields = parseForm('subject=%EF%BB%BFtea&body=%EF%BB%BF%EF%BB%BF');
    expect(fields.subject).toBe('\ufefftea');
    expect(fields.body).toBe('\ufeff\ufeff');
    expect(Buffer.from(fields.subject, 'utf8')).toEqual(Buffer.from([0xef, 0xbb, 0xbf, 0x74, 0x65, 0x61]));
  });

  it('is not fooled by __proto__ as a field name', () => {
    const fields = parseForm('__proto__=x&a=1');
    expect(fields.__proto__).toBe('x');
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });

  it('encodes + / = and spaces so Alipay cannot read them as anything else', () => {
    expect(encodeForm({ sign: 'a+b/c=', s: 'x y' })).toBe('s=x%20y&sign=a%2Bb%2Fc%3D');
    expect(parseForm(encodeForm({ sign: 'a+b/c=', s: '中 文' }))).toEqual({ sign: 'a+b/c=', s: '中 文' });
  });
});

describe('free text for Alipay', () => {
  it('counts code points, not UTF-16 units', () => {
    expect(codePointLength('😀😀')).toBe(2);
    expect(textProblem('😀'.repeat(256), 1, 256)).toBeNull();
    expect(textProblem('😀'.repeat(257), 1, 256)).toContain('at most 256');
  });

  it.each([
    ['', 'must not be empty'],
    ['   ', 'only spaces'],
    ['a\nb', 'control characters'],
    ['a\u0000b', 'control characters'],
    ['\ud800', 'valid Unicode'],
    ['\u0085', 'control characters'],
    ['\ufeffa', 'invisible format characters (found U+FEFF)'],
    ['a\u200bb', 'invisible format characters (found U+200B)'],
    ['a\u202eb', 'invisible format characters (found U+202E)'],
  ])('refuses %j', (text, problem) => {
    expect(textProblem(text, 1, 256)).toContain(problem);
  });
});
