import { Kind, visit, type ASTVisitor, type FieldNode } from 'graphql';
import type { OperationRequest } from './operation-request';
import type { SubscriptionField } from './subscription-fields';

/**
 * Subscribers share a payload when the selection (normalized: no operation name, no layout), the
 * variables that shape it and (if it matters) the viewer match. The one variable left out is the one
 * that does nothing but give the subscription field its `after`: a cursor picks where a resume starts,
 * never what a frame holds. Any other variable, whatever its name (`$after` in an `@include`, say),
 * may change the frame, so it stays in the key.
 */
export function payloadGroupKey(request: OperationRequest, fieldNode: FieldNode, field: SubscriptionField, viewerId: string): string {
  const cursor = cursorOnlyVariable(request, fieldNode);
  const shaping = cursor === null ? request.variables : Object.fromEntries(Object.entries(request.variables).filter(([name]) => name !== cursor));
  return [request.normalized, JSON.stringify(shaping), field.viewerDependent ? viewerId : ''].join('\u0000');
}

/** The variable given as the field's `after` and used nowhere else in the operation, or null. */
function cursorOnlyVariable(request: OperationRequest, fieldNode: FieldNode): string | null {
  const after = fieldNode.arguments?.find((argument) => argument.name.value === 'after')?.value;
  if (after?.kind !== Kind.VARIABLE) return null;
  const name = after.name.value;
  let uses = 0;
  const countUses: ASTVisitor = {
    // A definition names the variable; it does not use it.
    VariableDefinition: () => false,
    Variable: (node) => {
      if (node.name.value === name) uses++;
    },
  };
  visit(request.operation, countUses);
  for (const definition of request.document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) visit(definition, countUses);
  }
  return uses === 1 ? name : null;
}
