import { Field, InputType } from 'type-graphql';
import { badInput } from '../common/errors';
import type { Money } from '../common/money';
import { IDEMPOTENCY_KEY, textProblem } from '../common/text';
import { MoneyScalar } from '../graphql/scalars';

@InputType('CreateOrderInput', { description: 'A new order' })
export class CreateOrderInput {
  @Field(() => MoneyScalar, { description: 'The amount to charge, e.g. "88.88"' })
  amount!: Money;

  @Field({ description: 'What is bought, 1–256 characters; shown to the buyer by Alipay' })
  subject!: string;

  @Field(() => String, { nullable: true, description: 'A longer description, up to 128 characters' })
  body?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Retries with the same key return the same order (letters, digits, _ - : . ; up to 64)',
  })
  idempotencyKey?: string | null;
}

export interface ValidOrderInput {
  amount: Money;
  subject: string;
  body: string | null;
  idempotencyKey: string | null;
}

/** Checks what the Money scalar cannot: subject, body and idempotency key. Throws BAD_USER_INPUT. */
export function validateCreateOrder(input: CreateOrderInput): ValidOrderInput {
  const subjectProblem = textProblem(input.subject, 1, 256);
  if (subjectProblem) throw badInput(`subject ${subjectProblem}`, 'subject');
  const body = input.body ?? null;
  if (body !== null) {
    const bodyProblem = textProblem(body, 1, 128);
    if (bodyProblem) throw badInput(`body ${bodyProblem}`, 'body');
  }
  const key = input.idempotencyKey ?? null;
  if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
    throw badInput('idempotencyKey must be 1–64 letters, digits or _ - : .', 'idempotencyKey');
  }
  return { amount: input.amount, subject: input.subject, body, idempotencyKey: key };
}
