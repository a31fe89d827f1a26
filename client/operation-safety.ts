/**
 * Whether an HTTP operation may simply be sent again after an answer that leaves its outcome unknown
 * (`UNAVAILABLE`: the server may have applied a write before it failed). Read from the document
 * itself, so that every `request` gets it right without being told:
 *
 * - a query: yes;
 * - a mutation: only if every root field is safe to repeat: `updateMessage` (the same text again
 *   changes nothing), `deleteMessage` (deleting twice changes nothing), `markMessageAsRead` (the same
 *   receipt), and `createMessage` whose input carries a `clientMessageId` (the same sender, chat and
 *   clientMessageId is one message, DESIGN.md §2);
 * - anything else, and anything this reader does not follow (fragments at the root, several
 *   operations, a syntax it does not know): no. `createChat` and `updateChat` never are: a second
 *   createChat makes a second chat.
 *
 * A small reader of GraphQL's syntax, not a parser of the whole language: the library ships without
 * `graphql`. It errs only towards "no".
 */
export function isSafeToRepeat(document: string, variables: Record<string, unknown> = {}): boolean {
  try {
    const operations = readOperations(tokenize(document));
    if (operations.length !== 1) return false;
    const [operation] = operations;
    if (operation!.type === 'query') return true;
    if (operation!.type !== 'mutation' || !operation!.fields) return false;
    return operation!.fields.every((field) => isSafeField(field, variables));
  } catch {
    return false;
  }
}

const REPEATABLE_MUTATIONS = new Set(['updateMessage', 'deleteMessage', 'markMessageAsRead', '__typename']);

function isSafeField(field: RootField, variables: Record<string, unknown>): boolean {
  if (REPEATABLE_MUTATIONS.has(field.name)) return true;
  if (field.name !== 'createMessage') return false;
  const input = valueOf(field.args.get('createMessageInput'), variables);
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return false;
  return typeof (input as Record<string, unknown>).clientMessageId === 'string';
}

// ---- the document: operations and the fields at a mutation's root ----

type Value =
  | { kind: 'variable'; name: string }
  | { kind: 'string'; value: string }
  | { kind: 'object'; fields: Map<string, Value> }
  | { kind: 'other' };

interface RootField {
  name: string;
  args: Map<string, Value>;
}

interface Operation {
  type: 'query' | 'mutation' | 'subscription';
  /** A mutation's root fields (other operations are safe or not as a whole). */
  fields: RootField[] | null;
}

/** What a value stands for once variables are put in: a string, an object of such, or undefined for anything else. */
function valueOf(value: Value | undefined, variables: Record<string, unknown>): unknown {
  if (!value) return undefined;
  switch (value.kind) {
    case 'variable':
      return variables[value.name];
    case 'string':
      return value.value;
    case 'object':
      return Object.fromEntries([...value.fields].map(([name, inner]) => [name, valueOf(inner, variables)]));
    case 'other':
      return undefined;
  }
}

class Reader {
  private index = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  get done(): boolean {
    return this.index >= this.tokens.length;
  }

  peek(): Token | undefined {
    return this.tokens[this.index];
  }

  next(): Token {
    const token = this.tokens[this.index++];
    if (!token) throw new SyntaxError('unexpected end of the document');
    return token;
  }

  is(text: string): boolean {
    const token = this.peek();
    return token !== undefined && token.kind !== 'string' && token.text === text;
  }

  expect(text: string): void {
    if (!this.is(text)) throw new SyntaxError(`expected ${text}`);
    this.index++;
  }

  name(): string {
    const token = this.next();
    if (token.kind !== 'name') throw new SyntaxError('expected a name');
    return token.text;
  }

  /** Skips a bracketed group, `(` … `)`, `[` … `]` or `{` … `}`, whatever it holds. */
  skipGroup(): void {
    const open = this.next();
    const close = CLOSING[open.text];
    if (open.kind !== 'punctuator' || !close) throw new SyntaxError('expected a bracket');
    let depth = 1;
    while (depth > 0) {
      const token = this.next();
      if (token.kind !== 'punctuator') continue;
      if (CLOSING[token.text]) depth++;
      else if (token.text === ')' || token.text === ']' || token.text === '}') depth--;
    }
  }

  skipDirectives(): void {
    while (this.is('@')) {
      this.next();
      this.name();
      if (this.is('(')) this.skipGroup();
    }
  }
}

const CLOSING: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

function readOperations(tokens: Token[]): Operation[] {
  const reader = new Reader(tokens);
  const operations: Operation[] = [];
  while (!reader.done) {
    if (reader.is('{')) {
      operations.push({ type: 'query', fields: null });
      reader.skipGroup();
      continue;
    }
    const keyword = reader.name();
    if (keyword === 'fragment') {
      reader.name();
      reader.expect('on');
      reader.name();
      reader.skipDirectives();
      reader.skipGroup();
      continue;
    }
    if (keyword !== 'query' && keyword !== 'mutation' && keyword !== 'subscription') throw new SyntaxError(`unknown definition ${keyword}`);
    if (reader.peek()?.kind === 'name') reader.name();
    if (reader.is('(')) reader.skipGroup();
    reader.skipDirectives();
    if (keyword === 'mutation') {
      operations.push({ type: keyword, fields: readRootFields(reader) });
    } else {
      reader.skipGroup();
      operations.push({ type: keyword, fields: null });
    }
  }
  return operations;
}

function readRootFields(reader: Reader): RootField[] {
  reader.expect('{');
  const fields: RootField[] = [];
  while (!reader.is('}')) {
    // A fragment's fields could be anything: not followed, so not safe.
    if (reader.is('...')) throw new SyntaxError('a fragment at the root of a mutation');
    let name = reader.name();
    if (reader.is(':')) {
      reader.next();
      name = reader.name();
    }
    const args = new Map<string, Value>();
    if (reader.is('(')) {
      reader.next();
      while (!reader.is(')')) {
        const argument = reader.name();
        reader.expect(':');
        args.set(argument, readValue(reader));
      }
      reader.next();
    }
    reader.skipDirectives();
    if (reader.is('{')) reader.skipGroup();
    fields.push({ name, args });
  }
  reader.next();
  return fields;
}

function readValue(reader: Reader): Value {
  if (reader.is('$')) {
    reader.next();
    return { kind: 'variable', name: reader.name() };
  }
  if (reader.is('{')) {
    reader.next();
    const fields = new Map<string, Value>();
    while (!reader.is('}')) {
      const name = reader.name();
      reader.expect(':');
      fields.set(name, readValue(reader));
    }
    reader.next();
    return { kind: 'object', fields };
  }
  if (reader.is('[')) {
    reader.skipGroup();
    return { kind: 'other' };
  }
  const token = reader.next();
  if (token.kind === 'string') return { kind: 'string', value: token.text };
  if (token.kind === 'punctuator') throw new SyntaxError(`unexpected ${token.text}`);
  // Numbers, booleans, null, enum values: never a clientMessageId.
  return { kind: 'other' };
}

// ---- tokens (GraphQL's lexical grammar; commas, white space and comments are ignored) ----

interface Token {
  kind: 'name' | 'punctuator' | 'string' | 'number';
  /** For a string, its value (escapes resolved). */
  text: string;
}

const NAME = /[_A-Za-z][_0-9A-Za-z]*/y;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const IGNORED = /(?:[\s,\ufeff]|#[^\n\r]*)+/y;

function tokenize(document: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  const match = (pattern: RegExp): string | null => {
    pattern.lastIndex = at;
    const found = pattern.exec(document);
    return found ? found[0] : null;
  };
  while (at < document.length) {
    const ignored = match(IGNORED);
    if (ignored) {
      at += ignored.length;
      continue;
    }
    if (document.startsWith('...', at)) {
      tokens.push({ kind: 'punctuator', text: '...' });
      at += 3;
      continue;
    }
    if (document.startsWith('"""', at)) {
      const end = blockStringEnd(document, at + 3);
      tokens.push({ kind: 'string', text: document.slice(at + 3, end).replace(/\\"""/g, '"""') });
      at = end + 3;
      continue;
    }
    if (document[at] === '"') {
      const [value, end] = readString(document, at + 1);
      tokens.push({ kind: 'string', text: value });
      at = end;
      continue;
    }
    const name = match(NAME);
    if (name) {
      tokens.push({ kind: 'name', text: name });
      at += name.length;
      continue;
    }
    const number = match(NUMBER);
    if (number) {
      tokens.push({ kind: 'number', text: number });
      at += number.length;
      continue;
    }
    if ('!$&()[]{}:=@|'.includes(document[at]!)) {
      tokens.push({ kind: 'punctuator', text: document[at]! });
      at += 1;
      continue;
    }
    throw new SyntaxError(`unexpected character at ${at}`);
  }
  return tokens;
}

function blockStringEnd(document: string, from: number): number {
  for (let at = from; at < document.length; at++) {
    if (document.startsWith('\\"""', at)) at += 3;
    else if (document.startsWith('"""', at)) return at;
  }
  throw new SyntaxError('unterminated block string');
}

/** A quoted string from after its opening quote: its value and the index after its closing quote. */
function readString(document: string, from: number): [string, number] {
  let value = '';
  for (let at = from; at < document.length; at++) {
    const char = document[at]!;
    if (char === '"') return [value, at + 1];
    if (char === '\n' || char === '\r') break;
    if (char !== '\\') {
      value += char;
      continue;
    }
    const escaped = document[++at];
    if (escaped === 'u') {
      value += String.fromCharCode(parseInt(document.slice(at + 1, at + 5), 16));
      at += 4;
    } else {
      value += ({ b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' } as Record<string, string>)[escaped!] ?? escaped;
    }
  }
  throw new SyntaxError('unterminated string');
}

/**
 * Whether a document holds a mutation, which a socket lost before its answer may already have applied:
 * sending it again could apply it twice. Errs towards yes.
 */
export function mayMutate(document: string): boolean {
  try {
    return readOperations(tokenize(document)).some((operation) => operation.type === 'mutation');
  } catch {
    return true;
  }
}
