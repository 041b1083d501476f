/**
 * Money in yuan, held as an integer number of fen (1 yuan = 100 fen) in a bigint: never a float, anywhere.
 *
 * At the edges it is a decimal string with exactly two places ("88.88"), which is what GraphQL clients send,
 * what Alipay signs (`total_amount`) and what PostgreSQL's numeric(12,2) returns.
 */
export class Money {
  /** The smallest amount Alipay accepts: 0.01. */
  static readonly MIN_FEN = 1n;
  /** The largest amount Alipay accepts: 100000000.00. */
  static readonly MAX_FEN = 10_000_000_000n;

  private constructor(readonly fen: bigint) {}

  static zero(): Money {
    return new Money(0n);
  }

  static ofFen(fen: bigint): Money {
    if (fen < 0n) throw new MoneyError('an amount cannot be negative');
    return new Money(fen);
  }

  /**
   * Parses a client-supplied amount strictly: digits, a dot, exactly two digits, no sign, no spaces, no exponent,
   * no leading zeros, within 0.01–100000000.00.
   */
  static parse(input: unknown): Money {
    if (typeof input !== 'string') throw new MoneyError('an amount must be a string such as "88.88"');
    if (input.length > 16) throw new MoneyError('an amount must be at most 100000000.00');
    const match = /^(0|[1-9][0-9]*)\.([0-9]{2})$/.exec(input);
    if (!match) throw new MoneyError('an amount must be a decimal string with exactly two places, such as "88.88"');
    const fen = BigInt(match[1]) * 100n + BigInt(match[2]);
    if (fen < Money.MIN_FEN) throw new MoneyError('an amount must be at least 0.01');
    if (fen > Money.MAX_FEN) throw new MoneyError('an amount must be at most 100000000.00');
    return new Money(fen);
  }

  /**
   * Parses a decimal as another system writes it (PostgreSQL numeric, an Alipay message): zero, one or two
   * places, no sign. Returns null for anything else, so a caller can say what was wrong in its own words.
   */
  static parseDecimal(input: string): Money | null {
    if (input.length > 20) return null;
    const match = /^([0-9]+)(?:\.([0-9]{1,2}))?$/.exec(input);
    if (!match) return null;
    const fraction = (match[2] ?? '').padEnd(2, '0');
    return new Money(BigInt(match[1]) * 100n + BigInt(fraction));
  }

  plus(other: Money): Money {
    return new Money(this.fen + other.fen);
  }

  minus(other: Money): Money {
    return Money.ofFen(this.fen - other.fen);
  }

  equals(other: Money): boolean {
    return this.fen === other.fen;
  }

  compare(other: Money): -1 | 0 | 1 {
    return this.fen < other.fen ? -1 : this.fen > other.fen ? 1 : 0;
  }

  isZero(): boolean {
    return this.fen === 0n;
  }

  /** "88.88": two places, no grouping. */
  toString(): string {
    const yuan = this.fen / 100n;
    const cents = this.fen % 100n;
    return `${yuan}.${cents < 10n ? '0' : ''}${cents}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

export class MoneyError extends Error {
  override name = 'MoneyError';
}
