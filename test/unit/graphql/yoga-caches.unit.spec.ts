import type { CommandBus, QueryBus } from '@nestjs/cqrs';
import type { ValidationRule } from 'graphql';
import { AccessTokenVerifier, type VerifiedAccessToken } from '../../../src/application';
import { createGraphQLSchema, createGraphQLServer } from '../../../src/interfaces/graphql/create-yoga';
import { RateLimiter } from '../../../src/interfaces/graphql/rate-limit';

/** The token is the user id, valid for an hour. */
class Verifier extends AccessTokenVerifier {
  async verify(token: string): Promise<VerifiedAccessToken> {
    return { userId: token, expiresAt: Date.now() + 3_600_000 };
  }
}

/**
 * The request path does once what it can (issue 8): Yoga keeps parsed and validated documents, so
 * the same operation again is neither parsed nor validated again, and the depth, cost, alias and
 * storable-text rules (graphql-armor's analysis among them) do not run again for it.
 */
describe('GraphQL over HTTP: parse and validation caches', () => {
  it('validates an operation once, however often it comes, and a new one once more', async () => {
    // Given a server with a validation rule that counts the validations that really run
    let validations = 0;
    const counting: ValidationRule = () => {
      validations++;
      return {};
    };
    const yoga = createGraphQLServer({
      schema: createGraphQLSchema(),
      commandBus: {} as CommandBus,
      queryBus: {} as QueryBus,
      verifier: new Verifier(),
      limits: { maxQueryDepth: 8, maxQueryCost: 5000 },
      rateLimiter: new RateLimiter(1000),
      graphiql: false,
      onUnexpectedError: (error) => {
        throw error;
      },
      plugins: [{ onValidate: ({ addValidationRule }) => addValidationRule(counting) }],
    });
    const ask = async (query: string, variables: Record<string, unknown> = {}) => {
      const response = await yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer alice' },
        body: JSON.stringify({ query, variables }),
      });
      return response.json();
    };

    // When the same operation comes three times
    for (let i = 0; i < 3; i++) expect(await ask('query($yes: Boolean!) { me @include(if: $yes) }', { yes: true })).toEqual({ data: { me: 'alice' } });

    // Then it was validated once
    expect(validations).toBe(1);

    // And another operation is validated once more
    expect(await ask('{ me }')).toEqual({ data: { me: 'alice' } });
    expect(validations).toBe(2);
  });
});
