import { execute, parse, type ExecutionResult } from 'graphql';
import * as jit from 'graphql-jit';
import { createGraphQLSchema } from '../../../src/interfaces/graphql/create-yoga';
import type { GraphQLContext } from '../../../src/interfaces/graphql/graphql-context';
import { PayloadExecutor } from '../../../src/interfaces/realtime/payload-executor';
import type { PayloadGroup } from '../../../src/interfaces/realtime/subscription';

// Counted, to see that payloads are served by the compiled function rather than compiled per event.
jest.mock('graphql-jit', () => {
  const actual = jest.requireActual<typeof import('graphql-jit')>('graphql-jit');
  return { ...actual, compileQuery: jest.fn(actual.compileQuery) };
});

const schema = createGraphQLSchema();
const AT = '2026-12-01T00:00:00.000Z';
const message = { id: 'm1', chatId: 'c1', senderId: 'alice', content: 'a "quoted" \\ text', seq: 3, createdAt: AT, isEdited: false, editedAt: null, cursor: '12.40' };
const chat = { id: 'c1', name: 'n', participantIds: ['alice', 'bob'], createdBy: 'alice', createdAt: AT, updatedAt: AT, lastMessage: message, cursor: '12.41' };

function group(text: string, fieldName: string, variables: Record<string, unknown> = {}, operationName: string | null = null): PayloadGroup {
  return { key: text, members: 1, document: parse(text), operationName, variables, fieldName, positionCursor: false };
}

function context(unreadCountOf?: GraphQLContext['unreadCountOf']): GraphQLContext {
  return { viewer: { userId: 'bob' }, unreadCountOf } as GraphQLContext;
}

/** What graphql-js makes of the same selection: the reference. */
async function interpreted(g: PayloadGroup, root: Record<string, unknown>, contextValue: GraphQLContext): Promise<ExecutionResult> {
  return execute({ schema, document: g.document, operationName: g.operationName, variableValues: g.variables, rootValue: root, contextValue });
}

describe('payload execution', () => {
  const executor = new PayloadExecutor(schema);
  const cases: Array<[string, PayloadGroup, Record<string, unknown>]> = [
    ['plain fields', group('subscription { messageAdded(chatId: "c1") { id chatId senderId content seq createdAt isEdited editedAt cursor } }', 'messageAdded'), { messageAdded: message }],
    ['aliases, __typename and fragments', group(
      'subscription S($c: ID!) { m: messageAdded(chatId: $c) { __typename ...F ... on Message { when: createdAt } } } fragment F on Message { id text: content }',
      'messageAdded', { c: 'c1' }, 'S',
    ), { messageAdded: message }],
    ['directives with variables', group(
      'subscription ($yes: Boolean!) { messageAdded(chatId: "c1") { id content @include(if: $yes) seq @skip(if: $yes) } }',
      'messageAdded', { yes: true },
    ), { messageAdded: message }],
    ['a nested message of a list item', group(
      'subscription { chatMessageNotification { chatId senderId message { id content createdAt } cursor } }',
      'chatMessageNotification',
    ), { chatMessageNotification: { chatId: 'c1', senderId: 'alice', message, cursor: '12.40' } }],
    // graphql-jit builds results as object literals, where `__proto__` sets the prototype instead of a key
    ['a field aliased __proto__', group(
      'subscription { messageAdded(chatId: "c1") { __proto__: id seq } }',
      'messageAdded',
    ), { messageAdded: message }],
    ['an object aliased __proto__, inside a fragment', group(
      'subscription { chatMessageNotification { ...N } } fragment N on ChatMessageNotification { chatId __proto__: message { id } }',
      'chatMessageNotification',
    ), { chatMessageNotification: { chatId: 'c1', senderId: 'alice', message, cursor: '12.40' } }],
  ];

  for (const [name, g, root] of cases) {
    it(`gives what graphql-js gives for ${name}`, async () => {
      // Given a group's selection and a message's payload; when it is executed; then the result is graphql-js's
      const result = await executor.execute(g, root, context());
      expect(JSON.stringify(result)).toBe(JSON.stringify(await interpreted(g, root, context())));
      expect(result.errors).toBeUndefined();
    });
  }

  it('compiles a selection once, and executes every later payload of it with the compiled function', async () => {
    const compile = jit.compileQuery as jest.MockedFunction<typeof jit.compileQuery>;
    compile.mockClear();
    const g = group('subscription { messageAdded(chatId: "c1") { id content } }', 'messageAdded');
    try {
      for (let seq = 1; seq <= 3; seq++) {
        expect(await executor.execute(g, { messageAdded: { ...message, seq } }, context())).toEqual({ data: { messageAdded: { id: 'm1', content: message.content } } });
      }
      expect(compile).toHaveBeenCalledTimes(1);
      expect(jit.isCompiledQuery(compile.mock.results[0]!.value)).toBe(true);
    } finally {
      compile.mockClear();
    }
  });

  it("resolves the viewer's unread count through the context, as graphql-js does", async () => {
    const g = group('subscription { chatAdded { id name unreadCount lastMessage { content } } }', 'chatAdded');
    const counts = context(async (chatId, userId) => (chatId === 'c1' && userId === 'bob' ? 7 : -1));
    const result = await executor.execute(g, { chatAdded: chat }, counts);
    expect(result.data).toEqual({ chatAdded: { id: 'c1', name: 'n', unreadCount: 7, lastMessage: { content: message.content } } });
    expect(JSON.stringify(result)).toBe(JSON.stringify(await interpreted(g, { chatAdded: chat }, counts)));
  });

  it('reports a failing resolver as an error, not as data', async () => {
    const g = group('subscription { chatAdded { id unreadCount } }', 'chatAdded');
    const failing = context(async () => {
      throw new Error('database went away');
    });
    const result = await executor.execute(g, { chatAdded: chat }, failing);
    const reference = await interpreted(g, { chatAdded: chat }, failing);
    expect(result.errors?.map((error) => [error.message, error.path])).toEqual(reference.errors?.map((error) => [error.message, error.path]));
    expect(result.errors?.[0]?.originalError?.message).toBe('database went away');
    expect(result.data).toEqual(reference.data);
  });

  it('reports a payload that breaks the schema (a non-null field missing) as graphql-js does', async () => {
    const g = group('subscription { messageAdded(chatId: "c1") { id content } }', 'messageAdded');
    const broken = { messageAdded: { id: 'm1' } };
    const result = await executor.execute(g, broken, context());
    const reference = await interpreted(g, broken, context());
    expect(result.errors?.map((error) => [error.message, error.path])).toEqual(reference.errors?.map((error) => [error.message, error.path]));
    expect(result.data).toEqual(reference.data);
  });
});
