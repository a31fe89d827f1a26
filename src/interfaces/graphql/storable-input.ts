import { GraphQLError, Kind, type ASTNode, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isStorableText } from '../../domain';

/**
 * DESIGN.md §5: no NUL and no unpaired surrogate anywhere in a string argument. PostgreSQL stores
 * neither, so they are refused at the edge, for every argument and input field alike, before any
 * resolver runs: a literal by the validation rule below, a variable by `unstorableVariable`. Both
 * transports use both (Yoga through `storableInputPlugin`, the WebSocket server directly).
 * The domain keeps its own rule for the text it stores; this one also covers ids and cursors.
 */
const REASON = 'must not contain NUL characters or unpaired surrogates';

/** Every string literal of the document: argument values, nested input fields, list items, variable defaults. */
export const storableLiteralsRule: ValidationRule = (context) => ({
  StringValue(node, _key, parent, _path, ancestors) {
    if (isStorableText(node.value)) return;
    // `ancestors` leaves out the direct parent (an argument, object field or list).
    const path = literalPath(parent === undefined ? ancestors : [...ancestors, parent]);
    context.reportError(
      new GraphQLError(`${path} ${REASON}`, { nodes: node, extensions: { code: 'BAD_USER_INPUT' } }),
    );
  },
});

/** The first string in the variables (however deeply nested) that cannot be stored, as an error naming it. */
export function unstorableVariable(variables: unknown): GraphQLError | null {
  // An explicit stack: a request body can nest lists thousands deep, deeper than a recursion may go.
  const stack: { value: unknown; path: string }[] = [{ value: variables, path: '$' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'string') {
      if (!isStorableText(value)) {
        return new GraphQLError(`variable ${path} ${REASON}`, { extensions: { code: 'BAD_USER_INPUT' } });
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push({ value: item, path: `${path}[${index}]` }));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) stack.push({ value: item, path: path === '$' ? `$${key}` : `${path}.${key}` });
    }
  }
  return null;
}

/** Over HTTP: the literal rule joins validation; variables are checked before the operation runs. */
export function storableInputPlugin(): Plugin {
  const refuseVariables = ({ args, setResultAndStopExecution }: {
    args: { variableValues?: unknown };
    setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void;
  }) => {
    const error = unstorableVariable(args.variableValues ?? {});
    if (error) setResultAndStopExecution({ errors: [error] });
  };
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(storableLiteralsRule);
    },
    onExecute: refuseVariables,
    onSubscribe: refuseVariables,
  };
}

/** "argument createMessageInput.content", "default of $id": where a literal sits, for the error message. */
function literalPath(ancestors: readonly (ASTNode | readonly ASTNode[])[]): string {
  const names: string[] = [];
  for (let i = ancestors.length - 1; i >= 0; i--) {
    const ancestor = ancestors[i]!;
    if (Array.isArray(ancestor)) continue;
    const node = ancestor as ASTNode;
    if (node.kind === Kind.OBJECT_FIELD) names.unshift(node.name.value);
    if (node.kind === Kind.ARGUMENT) return `argument ${[node.name.value, ...names].join('.')}`;
    if (node.kind === Kind.VARIABLE_DEFINITION) return `the default of $${[node.variable.name.value, ...names].join('.')}`;
  }
  return 'a string';
}
