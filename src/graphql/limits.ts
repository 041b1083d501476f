import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  getNamedType,
  getNullableType,
  GraphQLError,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type FieldNode,
  type GraphQLNamedType,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

/** The limits every document meets before it runs, on HTTP and on graphql-ws alike (each configurable by env). */
export interface GraphQLLimits {
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
  maxCost: number;
}

/** graphql-armor's defaults, fitted to this schema. */
export const DEFAULT_GRAPHQL_LIMITS: GraphQLLimits = { maxDepth: 8, maxAliases: 15, maxDirectives: 50, maxTokens: 2000, maxCost: 5000 };

/** The codes a refused document carries in `extensions.code`, with the limit it broke in `extensions.limit`. */
export const LIMIT_CODES = ['QUERY_TOO_DEEP', 'TOO_MANY_ALIASES', 'TOO_MANY_DIRECTIVES', 'TOO_MANY_TOKENS', 'QUERY_TOO_COSTLY', 'TOO_MANY_SUBSCRIPTIONS'] as const;
export type LimitCode = (typeof LIMIT_CODES)[number];

/** A list field's size when its `first` is not given, and the most it may ask for (as the services enforce). */
const LIST_DEFAULT = 20;
const LIST_MAX = 100;

/**
 * graphql-armor's rules throw their refusal by default (a 500 in Apollo, a closed socket in graphql-ws): they are
 * told instead to report it as a validation error with a stable code and the limit broken.
 */
function refusal(code: LimitCode, limit: number) {
  return {
    propagateOnRejection: false,
    exposeLimits: true,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) =>
        context?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ''), { extensions: { code, limit } })),
    ],
  };
}

function listSize(field: FieldNode): number {
  const first = field.arguments?.find((a) => a.name.value === 'first');
  if (!first) return LIST_DEFAULT;
  if (first.value.kind === Kind.INT) return Math.min(Math.max(Number(first.value.value), 0), LIST_MAX);
  if (first.value.kind === Kind.VARIABLE) return LIST_MAX; // not known while validating: count the most it may be
  return LIST_DEFAULT;
}

/**
 * Cost: every field selected costs 1 for each time it will be resolved. A list field multiplies what is below it
 * by its `first` argument (default 20, at most 100; a variable counts as 100); a connection's `first` counts once
 * for its edges. Fragments are counted at every spread (the fan-out attack). Introspection fields are free: the
 * introspection policy decides who may ask.
 */
export function costLimitRule(maxCost: number): ValidationRule {
  return (context) => ({
    OperationDefinition(operation) {
      const schema = context.getSchema();
      const root =
        operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
      let total = 0;
      const walk = (set: SelectionSetNode, type: GraphQLNamedType | null | undefined, multiplier: number, inConnection: boolean, depth: number): void => {
        if (total > maxCost || depth > 64) return;
        for (const selection of set.selections) {
          if (selection.kind === Kind.FIELD) {
            if (selection.name.value.startsWith('__')) continue;
            total += multiplier;
            if (total > maxCost) return;
            if (!selection.selectionSet) continue;
            const def = type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields()[selection.name.value] : undefined;
            if (!def) continue;
            const paged = def.args.some((a) => a.name === 'first');
            const list = isListType(getNullableType(def.type));
            const size = paged ? listSize(selection) : list && !inConnection ? LIST_DEFAULT : 1;
            walk(selection.selectionSet, getNamedType(def.type), multiplier * Math.max(size, 1), paged ? true : list ? false : inConnection, depth + 1);
          } else if (selection.kind === Kind.INLINE_FRAGMENT) {
            walk(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type, multiplier, inConnection, depth + 1);
          } else {
            const fragment = context.getFragment(selection.name.value);
            if (fragment) walk(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value), multiplier, inConnection, depth + 1);
          }
        }
      };
      walk(operation.selectionSet, root, 1, false, 0);
      if (total > maxCost) {
        context.reportError(
          new GraphQLError(`Query cost exceeds the limit of ${maxCost} (list fields count by their first argument, default ${LIST_DEFAULT})`, {
            nodes: [operation],
            extensions: { code: 'QUERY_TOO_COSTLY', limit: maxCost },
          }),
        );
      }
    },
  });
}

/** The validation rules that enforce the limits (the parser enforces maxTokens). */
export function limitRules(limits: GraphQLLimits): ValidationRule[] {
  return [
    maxDepthRule({ n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...refusal('QUERY_TOO_DEEP', limits.maxDepth) }),
    maxAliasesRule({ n: limits.maxAliases, ...refusal('TOO_MANY_ALIASES', limits.maxAliases) }),
    maxDirectivesRule({ n: limits.maxDirectives, ...refusal('TOO_MANY_DIRECTIVES', limits.maxDirectives) }),
    costLimitRule(limits.maxCost),
  ];
}

/** Recognises graphql-js's "too many tokens" parse error (Apollo passes it on without a code). */
export function tokenLimitError(message: string): boolean {
  return /Document contains more tha[nt] \d+ tokens/.test(message);
}
