import {
  getOperationAST,
  getVariableValues,
  GraphQLError,
  Kind,
  parse,
  print,
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
  /** The operation as printed without its name or layout: equal for operations that select the same. */
  normalized: string;
  variables: Record<string, unknown>;
}

/** A query text parsed and validated once, however many subscriptions send it (DESIGN.md §4): thousands of clients send the same few. */
interface PreparedDocument {
  document?: DocumentNode;
  errors?: ClientError[];
  normalized: Map<string, string>;
}

const DOCUMENTS_KEPT = 1000;

/**
 * The same checks, in the same order and with the same codes, as a request over HTTP gets. Parsing
 * and validation depend on the text alone, so their result is kept per text (the most recent
 * DOCUMENTS_KEPT texts): subscriptions with the same text share one document in memory.
 */
export class OperationPreparer {
  private readonly documents = new Map<string, PreparedDocument>();

  constructor(private readonly schema: GraphQLSchema, private readonly limits: GraphQLLimits) {}

  prepare(payload: SubscribeMessage['payload']): OperationRequest | { errors: ClientError[] } {
    const prepared = this.documentFor(payload.query);
    if (!prepared.document) return { errors: prepared.errors! };
    const operation = getOperationAST(prepared.document, payload.operationName);
    if (!operation) {
      return { errors: [{ message: 'Could not determine which operation to run', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] };
    }
    const unstorable = unstorableVariable(payload.variables);
    if (unstorable) return { errors: [{ message: unstorable.message, extensions: { code: String(unstorable.extensions.code) } }] };
    const coerced = getVariableValues(this.schema, operation.variableDefinitions ?? [], payload.variables ?? {});
    if (coerced.errors) {
      return { errors: coerced.errors.map((error) => ({ message: error.message, extensions: { code: 'BAD_USER_INPUT' } })) };
    }
    return {
      document: prepared.document,
      operation,
      operationName: payload.operationName ?? null,
      normalized: normalizedOnce(prepared, operation),
      variables: coerced.coerced,
    };
  }

  private documentFor(query: string): PreparedDocument {
    const kept = this.documents.get(query);
    if (kept) {
      // Most recently used last, so the oldest is the first to go.
      this.documents.delete(query);
      this.documents.set(query, kept);
      return kept;
    }
    const prepared = this.parseAndValidate(query);
    if (this.documents.size >= DOCUMENTS_KEPT) this.documents.delete(this.documents.keys().next().value!);
    this.documents.set(query, prepared);
    return prepared;
  }

  private parseAndValidate(query: string): PreparedDocument {
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (error) {
      return { errors: [{ message: (error as Error).message, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }], normalized: new Map() };
    }
    let errors: readonly GraphQLError[];
    try {
      errors = validate(this.schema, document, limitRules(this.limits));
    } catch (error) {
      // The limit rules throw on the first limit exceeded.
      if (!(error instanceof GraphQLError)) throw error;
      errors = [new GraphQLError(error.message.replace(/^Syntax Error: /, ''))];
    }
    if (errors.length > 0) {
      return {
        errors: errors.map((error) => ({ message: error.message, extensions: { code: String(error.extensions.code ?? 'GRAPHQL_VALIDATION_FAILED') } })),
        normalized: new Map(),
      };
    }
    return { document, normalized: new Map() };
  }
}

/** The operation without its name, with the document's fragments, in graphql's canonical layout. */
function normalizedOnce(prepared: PreparedDocument, operation: OperationDefinitionNode): string {
  const key = operation.name?.value ?? '';
  let normalized = prepared.normalized.get(key);
  if (normalized === undefined) {
    const fragments = prepared.document!.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION);
    normalized = print({ kind: Kind.DOCUMENT, definitions: [{ ...operation, name: undefined }, ...fragments] });
    prepared.normalized.set(key, normalized);
  }
  return normalized;
}
