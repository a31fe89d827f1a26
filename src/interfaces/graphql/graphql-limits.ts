import { costLimitPlugin, costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin, maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin, maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { specifiedRules, type ValidationRule } from 'graphql';
import { storableInputPlugin, storableLiteralsRule } from './storable-input';

export interface GraphQLLimits {
  maxQueryDepth: number;
  maxQueryCost: number;
}

export const MAX_ALIASES = 15;

/** The same limits over HTTP (as Yoga plugins) and over WebSocket (as validation rules). */
export function limitPlugins(limits: GraphQLLimits) {
  return [
    maxDepthPlugin({ n: limits.maxQueryDepth, exposeLimits: true }),
    costLimitPlugin({ maxCost: limits.maxQueryCost, exposeLimits: true }),
    maxAliasesPlugin({ n: MAX_ALIASES, exposeLimits: true }),
    storableInputPlugin(),
  ];
}

export function limitRules(limits: GraphQLLimits): ValidationRule[] {
  return [
    ...specifiedRules,
    maxDepthRule({ n: limits.maxQueryDepth, exposeLimits: true }) as unknown as ValidationRule,
    costLimitRule({ maxCost: limits.maxQueryCost, exposeLimits: true }) as unknown as ValidationRule,
    maxAliasesRule({ n: MAX_ALIASES, exposeLimits: true }) as unknown as ValidationRule,
    storableLiteralsRule,
  ];
}
