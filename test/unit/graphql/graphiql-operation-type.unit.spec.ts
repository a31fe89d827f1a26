import { OPERATION_TYPE_SCRIPT } from '../../../src/interfaces/graphql/graphiql-page';

/** The very text that runs in the GraphiQL page, which picks the WebSocket for subscriptions only. */
const operationTypeOf = new Function(`${OPERATION_TYPE_SCRIPT}; return operationTypeOf;`)() as (
  query: string,
  operationName?: string | null,
) => string;

describe('GraphiQL page: the type of the operation a request runs', () => {
  it.each([
    ['an anonymous subscription', 'subscription { chatAdded { id } }', null, 'subscription'],
    ['a shorthand query', '{ me }', null, 'query'],
    ['a mutation', 'mutation Post { createMessage(createMessageInput: {chatId: "1", content: "x"}) { id } }', null, 'mutation'],
    ['a subscription after comments and whitespace', '# mutation\n\n  # { me }\nsubscription S($c: ID!) { messageAdded(chatId: $c) { id } }', null, 'subscription'],
    ['the named operation among several', 'query A { me } subscription B { chatAdded { id } } mutation C { setTyping(chatId: "1") }', 'B', 'subscription'],
    ['the first operation when none is named', 'query A { me } subscription B { chatAdded { id } }', null, 'query'],
    ['a fragment before the operation', 'fragment F on Message { id } subscription { messageAdded(chatId: "1") { ...F } }', null, 'subscription'],
    ['keywords inside strings and block strings', 'query Q { chat(id: "subscription { x }") { name } }', null, 'query'],
    ['a block string with braces and quotes', 'mutation M { createMessage(createMessageInput: {chatId: "1", content: """ "}" subscription { """}) { id } } subscription S { chatAdded { id } }', 'M', 'mutation'],
    ['variables with an object default', 'subscription S($a: In = {x: [1, {y: 2}]}) @live { chatAdded { id } }', 'S', 'subscription'],
    ['an escaped quote in a string', 'query { chat(id: "a\\"}") { name } } subscription T { chatAdded { id } }', 'T', 'subscription'],
    ['an unknown operation name', 'subscription S { chatAdded { id } }', 'Other', 'query'],
    ['an empty document', '', null, 'query'],
  ])('%s', (_, query, operationName, type) => {
    expect(operationTypeOf(query, operationName)).toBe(type);
  });
});
