import { GraphQLScalarType, Kind } from 'graphql';
import { Money, MoneyError } from '../common/money';
import { AppError } from '../common/errors';

function parse(value: unknown): Money {
  try {
    return Money.parse(value);
  } catch (err) {
    if (err instanceof MoneyError) throw new AppError('BAD_USER_INPUT', `Money: ${err.message}`);
    throw err;
  }
}

/** Money: a decimal string with exactly two places, 0.01–100000000.00. Numbers are refused, never rounded. */
export const MoneyScalar = new GraphQLScalarType<Money, string>({
  name: 'Money',
  description: 'An amount in yuan: a decimal string with exactly two places, 0.01–100000000.00, e.g. "88.88"',
  serialize(value) {
    if (value instanceof Money) return value.toString();
    throw new Error('Money.serialize expects a Money value');
  },
  parseValue: parse,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new AppError('BAD_USER_INPUT', 'Money: an amount must be a string such as "88.88"');
    return parse(ast.value);
  },
});
