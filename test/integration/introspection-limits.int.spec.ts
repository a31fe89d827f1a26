import { getIntrospectionQuery } from 'graphql';
import type { Client } from 'graphql-ws';
import type { RunningServer } from '../../src/interfaces/composition/server';
import { errorCodes, graphql, type GraphQLResponse } from '../support/graphql-http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, tokenFor } from '../support/test-server';
import { connectClient, subscribe } from '../support/ws-client';

/** What GraphiQL and other tools send: graphql's own introspection query, here with every option on. */
const STANDARD_INTROSPECTION = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
});

/** `__schema { types { ofType { ofType … { leaf } } } }`: a chain of `levels` ofType below types. */
function nestedIntrospection(levels: number, leaf = 'name'): string {
  return `{ __schema { types { ${'ofType { '.repeat(levels)}${leaf}${' }'.repeat(levels)} } } }`;
}

/**
 * DESIGN.md §5: query depth and cost limits apply to introspection queries too. graphql-armor exempts
 * `__schema` from both by default, so any nesting under it used to pass.
 */
describe('depth and cost limits on introspection', () => {
  let database: TestDatabase;
  let server: RunningServer;
  let token: string;
  let client: Client;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer(database.url);
    token = await tokenFor('alice');
    client = connectClient(server.url, token);
  });

  afterAll(async () => {
    await client.dispose();
    await server.stop();
    await database.drop();
  });

  const tooDeep = nestedIntrospection(40);
  // Within the depth allowed to introspection, but each of the 300 repeated leaves costs 1.5^19.
  const tooCostly = nestedIntrospection(16, 'kind '.repeat(300));

  describe('over HTTP', () => {
    it('answers the standard introspection query with the default limits', async () => {
      const response = await graphql(server.url, token, STANDARD_INTROSPECTION);
      expect(response.errors).toBeUndefined();
      expect(response.data?.__schema?.queryType).toEqual({ name: 'Query', kind: 'OBJECT' });
    });

    it('refuses an introspection query nested deeper than the standard one with BAD_USER_INPUT', async () => {
      const response = await graphql(server.url, token, tooDeep);
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.message).toMatch(/depth/i);
      expect(response.data ?? null).toBeNull();
    });

    it('refuses an introspection query costlier than the standard one with BAD_USER_INPUT', async () => {
      const response = await graphql(server.url, token, tooCostly);
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.message).toMatch(/cost/i);
    });

    it('still holds the rest of an operation that also introspects to MAX_QUERY_DEPTH', async () => {
      const shallow = await startTestServer(database.url, { MAX_QUERY_DEPTH: '2', MIGRATE_ON_START: 'false' });
      try {
        const response = await graphql(shallow.url, token, '{ __schema { queryType { name } } chats { lastMessage { id } } }');
        expect(response.errors?.[0]?.message).toMatch(/depth/i);
        expect((await graphql(shallow.url, token, STANDARD_INTROSPECTION)).errors).toBeUndefined();
      } finally {
        await shallow.stop();
      }
    });
  });

  describe('over WebSocket', () => {
    const errorsOf = async (query: string) => (await subscribe(client, query).error()) as GraphQLResponse['errors'];

    it('answers the standard introspection query with the default limits', async () => {
      const [schema] = await subscribe(client, STANDARD_INTROSPECTION).count(1);
      expect(schema.queryType).toEqual({ name: 'Query', kind: 'OBJECT' });
    });

    it('refuses an introspection query nested deeper than the standard one', async () => {
      const errors = await errorsOf(tooDeep);
      expect(errors?.map((error) => error.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(errors?.[0]?.message).toMatch(/depth/i);
    });

    it('refuses an introspection query costlier than the standard one', async () => {
      const errors = await errorsOf(tooCostly);
      expect(errors?.map((error) => error.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(errors?.[0]?.message).toMatch(/cost/i);
    });
  });
});
