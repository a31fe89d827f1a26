import type { Client } from 'graphql-ws';
import { eventually } from './eventually';
import { ParleyProcess, runParley } from './parley-process';
import { TEST_JWT_SECRET } from './test-server';
import { withClient } from './test-database';
import { connectClient } from './ws-client';

const STARTED = /Parley GraphQL: (http:\/\/\S+) \(roles: /;

/** What every process of a multi-process test shares besides its database and Redis. */
export const E2E_ENV = { AUTH_JWT_SECRET: TEST_JWT_SECRET, MIGRATE_ON_START: 'false', POLL_INTERVAL_MS: '500', LOG_LEVEL: 'info' } as const;

export interface Instance {
  name: string;
  process: ParleyProcess;
  url: string;
}

/**
 * The Parley processes of an e2e test, each started with a role and waited for until ready, with the
 * graphql-ws clients the test opens on them; and the relay leadership of a partition as PostgreSQL has it.
 */
export class ParleyInstances {
  private readonly started = new Map<string, Instance>();
  private readonly clients: Client[] = [];

  constructor(private readonly env: () => NodeJS.ProcessEnv) {}

  /** Migrates the database once, then starts every instance (name, role) side by side. */
  async migrateAndStart(instances: [name: string, role: string][]): Promise<void> {
    const migrated = await runParley(['migrate'], this.env());
    if (migrated.code !== 0) throw new Error(`parley migrate exited with ${migrated.code}:\n${migrated.output}`);
    await Promise.all(instances.map(([name, role]) => this.start(name, role)));
  }

  async start(name: string, role: string): Promise<Instance> {
    const process = ParleyProcess.start(['serve', '--role', role, '--port', '0'], this.env(), 'bin');
    const [, startedUrl] = await process.waitFor(STARTED);
    const instance = { name, process, url: startedUrl! };
    this.started.set(name, instance);
    await eventually(async () => expect((await fetch(startedUrl!.replace('/graphql', '/readyz'))).status).toBe(200), 20_000);
    return instance;
  }

  get(name: string): Instance {
    const instance = this.started.get(name);
    if (!instance) throw new Error(`no instance named ${name}`);
    return instance;
  }

  url(name: string): string {
    return this.get(name).url;
  }

  all(): Instance[] {
    return [...this.started.values()];
  }

  relays(): Instance[] {
    return this.all().filter((instance) => instance.name.startsWith('relay'));
  }

  /** Kills an instance (SIGKILL) and forgets it. */
  async kill(name: string): Promise<void> {
    await this.get(name).process.stop('SIGKILL');
    this.started.delete(name);
  }

  client(name: string, token: string): Client {
    const created = connectClient(this.url(name), token);
    this.clients.push(created);
    return created;
  }

  async disposeClients(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((client) => client.dispose()));
  }

  async stopAll(): Promise<void> {
    // A stopped process holds SIGTERM until it is continued: never leave one stopped.
    for (const instance of this.all()) instance.process.child.kill('SIGCONT');
    await Promise.all(this.all().map((instance) => instance.process.stop()));
  }

  /** The relay process that leads a partition, as PostgreSQL has it, and its epoch. */
  leadershipOf(databaseUrl: string, partition: number): Promise<{ epoch: number; relay: Instance | undefined } | undefined> {
    return withClient(databaseUrl, async (c) => {
      const row = (await c.query<{ epoch: number; holder: string }>(`select epoch::int as epoch, holder from relay_leadership where name = $1`, [`partition:${partition}`])).rows[0];
      return row && { epoch: row.epoch, relay: this.relays().find((relay) => row.holder.endsWith(`:${relay.process.child.pid}`)) };
    });
  }

  /** The relay that leads a partition, once one does. */
  leaderOf(databaseUrl: string, partition: number): Promise<{ epoch: number; relay: Instance }> {
    return eventually(async () => {
      const lead = await this.leadershipOf(databaseUrl, partition);
      expect(lead?.relay).toBeDefined();
      return { epoch: lead!.epoch, relay: lead!.relay! };
    }, 20_000);
  }
}
