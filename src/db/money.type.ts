import { Type, type Platform, type EntityProperty } from '@mikro-orm/core';
import { Money } from '../common/money';

/** numeric(12,2) in PostgreSQL, Money (integer fen) in code: the decimal text crosses the boundary, never a float. */
export class MoneyType extends Type<Money, string> {
  override convertToDatabaseValue(value: Money | string): string {
    return value instanceof Money ? value.toString() : value;
  }

  override convertToJSValue(value: Money | string): Money {
    if (value instanceof Money) return value;
    const money = Money.parseDecimal(String(value));
    if (!money) throw new Error('the database returned an amount that is not a decimal');
    return money;
  }

  override compareAsType(): string {
    return 'string';
  }

  override getColumnType(_prop: EntityProperty, _platform: Platform): string {
    return 'numeric(12,2)';
  }
}
