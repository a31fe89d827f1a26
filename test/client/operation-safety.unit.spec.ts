import { isSafeToRepeat } from '../../client';

const POST_INPUT = 'mutation($input: CreateMessageInput!) { createMessage(createMessageInput: $input) { id seq } }';
const POST_FIELDS = `mutation($chatId: ID!, $content: String!, $cmid: String) {
  createMessage(createMessageInput: { chatId: $chatId, content: $content, clientMessageId: $cmid }) { id }
}`;

/**
 * Which operations the client library may send again after UNAVAILABLE (the outcome of a write is
 * then unknown): only those that repeating cannot change, read from the document and its variables.
 */
describe('isSafeToRepeat', () => {
  it.each<[string, string, Record<string, unknown>]>([
    ['a query', 'query($id: ID!) { chat(id: $id) { id name } }', { id: 'c' }],
    ['a query in shorthand', '{ me head }', {}],
    ['a named query with directives and fragments', 'query Q @x { chats { ...F } } fragment F on Chat { id }', {}],
    ['a post whose input variable carries a clientMessageId', POST_INPUT, { input: { chatId: 'c', content: 'hi', clientMessageId: 'k-1' } }],
    ['a post whose clientMessageId is a variable in the literal input', POST_FIELDS, { chatId: 'c', content: 'hi', cmid: 'k-1' }],
    ['a post with a clientMessageId written in the document', 'mutation { createMessage(createMessageInput: { chatId: "c", content: "hi", clientMessageId: "k-1" }) { id } }', {}],
    ['an aliased post with a clientMessageId', 'mutation($i: CreateMessageInput!) { sent: createMessage(createMessageInput: $i) { id } }', { i: { clientMessageId: 'k' } }],
    ['an edit', 'mutation($id: ID!, $content: String!) { updateMessage(messageId: $id, content: $content) { id } }', { id: 'm', content: 'x' }],
    ['a deletion', 'mutation($id: ID!) { deleteMessage(messageId: $id) { id chatId cursor } }', { id: 'm' }],
    ['a read mark', 'mutation($id: ID!) { markMessageAsRead(messageId: $id) { cursor } }', { id: 'm' }],
    ['two read marks at once', 'mutation { a: markMessageAsRead(messageId: "1") { cursor } b: markMessageAsRead(messageId: "2") { cursor } }', {}],
  ])('says yes to %s', (_, document, variables) => {
    expect(isSafeToRepeat(document, variables)).toBe(true);
  });

  it.each<[string, string, Record<string, unknown>]>([
    ['createChat', 'mutation($name: String!, $ids: [ID!]!) { createChat(input: { name: $name, participantIds: $ids }) { id } }', { name: 'n', ids: [] }],
    ['updateChat', 'mutation($input: UpdateChatInput!) { updateChat(input: $input) { id } }', { input: { chatId: 'c', name: 'n' } }],
    ['a post without a clientMessageId', POST_INPUT, { input: { chatId: 'c', content: 'hi' } }],
    ['a post whose clientMessageId variable is left out', POST_FIELDS, { chatId: 'c', content: 'hi' }],
    ['a post whose clientMessageId is null', POST_FIELDS, { chatId: 'c', content: 'hi', cmid: null }],
    ['a post whose clientMessageId is written as null', 'mutation { createMessage(createMessageInput: { chatId: "c", content: "hi", clientMessageId: null }) { id } }', {}],
    ['a read mark beside a createChat', 'mutation { markMessageAsRead(messageId: "1") { cursor } createChat(input: { name: "n", participantIds: [] }) { id } }', {}],
    ['a createChat behind an alias named like a safe field', 'mutation { markMessageAsRead: createChat(input: { name: "n", participantIds: [] }) { id } }', {}],
    ['a mutation whose root is a fragment', 'mutation { ...M } fragment M on Mutation { markMessageAsRead(messageId: "1") { cursor } }', {}],
    ['an unknown mutation', 'mutation { setTyping(chatId: "c") }', {}],
    ['a document of two operations', 'query A { me } mutation B { markMessageAsRead(messageId: "1") { cursor } }', {}],
    ['a subscription', 'subscription { chatAdded { id cursor } }', {}],
    ['a document that does not parse', 'mutation { markMessageAsRead(messageId: "1" { cursor } }', {}],
    ['an empty document', '', {}],
  ])('says no to %s', (_, document, variables) => {
    expect(isSafeToRepeat(document, variables)).toBe(false);
  });

  it('is not fooled by names inside strings and comments', () => {
    const document = `# createChat is not here
      mutation { markMessageAsRead(messageId: "createChat { }") { cursor } }`;
    expect(isSafeToRepeat(document)).toBe(true);
    expect(isSafeToRepeat('mutation { createChat(input: { name: """markMessageAsRead""", participantIds: [] }) { id } }')).toBe(false);
  });
});
