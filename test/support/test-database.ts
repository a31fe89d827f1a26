import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { serverUrlOf } from './service-urls';

/** Each test file gets its own database on the test server, dropped afterwards. */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set (jest globalSetup sets it)');
  const name = `parley_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(serverUrl, (client) => client.query(`create database ${name}`));
  return {
    url: serverUrlOf(serverUrl, name),
    name,
    drop: async () => {
      await withAdmin(serverUrl, (client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}

async function withAdmin<T>(serverUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A direct connection for assertions on what was (or was not) written. */
export async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  return withAdmin(url, work);
}
