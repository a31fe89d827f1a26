import {
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { SubscribeMessage } from 'graphql-ws';
import { limitRules, type GraphQLLimits } from '../graphql/graphql-limits';
import { unstorableVariable } from '../graphql/storable-input';
import type { ClientError } from './subscription';

/** A `subscribe` message made ready to run: parsed, validated with the limits of HTTP, variables coerced. */
export interface OperationRequest {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  operationName: string | null;
  variables: Record<string, unknown>;
}

/** The same checks, in the same order and with the same codes, as a request over HTTP gets. */
export function prepareOperation(
  schema: GraphQLSchema,
  limits: GraphQLLimits,
  payload: SubscribeMessage['payload'],
): OperationRequest | { errors: ClientError[] } {
  let document: DocumentNode;
  try {
    document = parse(payload.query);
  } catch (error) {
    return { errors: [{ message: (error as Error).message, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }] };
  }
  let validationErrors: readonly GraphQLError[];
  try {
    validationErrors = validate(schema, document, limitRules(limits));
  } catch (error) {
    // The limit rules throw on the first limit exceeded.
    if (!(error instanceof GraphQLError)) throw error;
    validationErrors = [new GraphQLError(error.message.replace(/^Syntax Error: /, ''))];
  }
  const operation = getOperationAST(document, payload.operationName);
  if (validationErrors.length > 0 || !operation) {
    const errors = validationErrors.length ? validationErrors : [new GraphQLError('Could not determine which operation to run')];
    return { errors: errors.map((error) => ({ message: error.message, extensions: { code: String(error.extensions.code ?? 'GRAPHQL_VALIDATION_FAILED') } })) };
  }
  const unstorable = unstorableVariable(payload.variables);
  if (unstorable) return { errors: [{ message: unstorable.message, extensions: { code: String(unstorable.extensions.code) } }] };
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], payload.variables ?? {});
  if (coerced.errors) {
    return { errors: coerced.errors.map((error) => ({ message: error.message, extensions: { code: 'BAD_USER_INPUT' } })) };
  }
  return { document, operation, operationName: payload.operationName ?? null, variables: coerced.coerced };
}
