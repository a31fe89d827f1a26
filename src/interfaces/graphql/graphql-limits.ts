import { costLimitPlugin, costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin, maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin, maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { buildSchema, getIntrospectionQuery, parse, specifiedRules, validate, type ValidationRule } from 'graphql';
import { storableInputPlugin, storableLiteralsRule } from './storable-input';

export interface GraphQLLimits {
  maxQueryDepth: number;
  maxQueryCost: number;
}

export const MAX_ALIASES = 15;

/**
 * Introspection counts against the depth and cost limits too (DESIGN.md §5); graphql-armor exempts
 * `__schema` from both unless told otherwise (its max-aliases has no such exemption). But the
 * standard introspection query that GraphiQL and code generators send is far deeper and costlier
 * than the defaults (MAX_QUERY_DEPTH 8, MAX_QUERY_COST 5000): as graphql-armor counts, depth 21 (its
 * TypeRef fragment nests `ofType` nine times, and each fragment spread adds two) and a cost of about
 * 87,500. So introspection gets exactly that budget, measured below from graphql's own query with
 * every option on, and no more: a deliberately deeper or costlier introspection is refused. (The
 * fan-out of nested list fields under `__schema` is bounded separately by graphql's own
 * MaxIntrospectionDepthRule, one of the specified rules.) The rest of an operation keeps the limits.
 */
export const INTROSPECTION_BUDGET = measureStandardIntrospection();

/** The same limits over HTTP (as Yoga plugins) and over WebSocket (as validation rules). */
export function limitPlugins(limits: GraphQLLimits) {
  const introspection = introspectionLimits(limits);
  return [
    maxDepthPlugin({ n: limits.maxQueryDepth, exposeLimits: true }),
    maxDepthPlugin(introspection.depth),
    costLimitPlugin({ maxCost: limits.maxQueryCost, exposeLimits: true }),
    costLimitPlugin(introspection.cost),
    maxAliasesPlugin({ n: MAX_ALIASES, exposeLimits: true }),
    storableInputPlugin(),
  ];
}

export function limitRules(limits: GraphQLLimits): ValidationRule[] {
  const introspection = introspectionLimits(limits);
  return [
    ...specifiedRules,
    maxDepthRule({ n: limits.maxQueryDepth, exposeLimits: true }) as unknown as ValidationRule,
    maxDepthRule(introspection.depth) as unknown as ValidationRule,
    costLimitRule({ maxCost: limits.maxQueryCost, exposeLimits: true }) as unknown as ValidationRule,
    costLimitRule(introspection.cost) as unknown as ValidationRule,
    maxAliasesRule({ n: MAX_ALIASES, exposeLimits: true }) as unknown as ValidationRule,
    storableLiteralsRule,
  ];
}

/** A second depth and cost check over the whole operation, `__schema` included, with introspection's budget. */
function introspectionLimits(limits: GraphQLLimits) {
  const n = Math.max(limits.maxQueryDepth, INTROSPECTION_BUDGET.depth);
  const maxCost = Math.max(limits.maxQueryCost, INTROSPECTION_BUDGET.cost);
  return {
    depth: { n, ignoreIntrospection: false, exposeLimits: false, errorMessage: `Query depth limit of ${n} for introspection exceeded.` },
    cost: { maxCost, ignoreIntrospection: false, exposeLimits: false, errorMessage: `Query cost limit of ${maxCost} for introspection exceeded.` },
  };
}

/** Depth and cost of the standard introspection query, counted by the very rules that enforce them. */
function measureStandardIntrospection(): { depth: number; cost: number } {
  const document = parse(
    getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    }),
  );
  const measured = { depth: 0, cost: 0 };
  // The counts depend on the document alone; any schema lets the rules run.
  validate(buildSchema('type Query { _: Boolean }'), document, [
    maxDepthRule({ n: Infinity, ignoreIntrospection: false, onAccept: [(_, { n }) => (measured.depth = n)] }) as unknown as ValidationRule,
    costLimitRule({ maxCost: Infinity, ignoreIntrospection: false, onAccept: [(_, { n }) => (measured.cost = Math.ceil(n))] }) as unknown as ValidationRule,
  ]);
  return measured;
}
