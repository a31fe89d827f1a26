import { hold, STOPS_THE_ONE_REDIS, type Fault } from './fault';

/** The shared dependencies hurt for everyone: Redis or PostgreSQL stopped, database sessions ended. */
export const DEPENDENCY_FAULTS: Fault[] = [
  {
    name: 'redis-restart',
    only: STOPS_THE_ONE_REDIS,
    async inject({ cluster, workload, liveness, opsDuringFault, observe }) {
      const since = Date.now();
      await cluster.redis.stop();
      let healedAt: number;
      try {
        // Receivers and relays need Redis and say so; a sender does not, and goes on taking mutations.
        await liveness.turnsNotReady([...cluster.alive('receiver'), ...cluster.alive('relay')], since, 'Redis stopped');
        await liveness.staysReady(cluster.alive('sender'), 'Redis is stopped');
        await workload.progress(opsDuringFault);
      } finally {
        await cluster.redis.start();
        healedAt = Date.now();
      }
      await liveness.recovered(healedAt);
      await cluster.allReady(60_000);
      observe(`redis-server SIGKILLed for ${healedAt - since} ms, restarted on the same port; every instance ready again`);
    },
  },
  {
    name: 'pg-terminate',
    async inject({ cluster, workload, opsDuringFault, observe }) {
      const first = await cluster.terminateDatabaseSessions();
      await workload.progress(Math.ceil(opsDuringFault / 2));
      const second = await cluster.terminateDatabaseSessions();
      await workload.progress(Math.ceil(opsDuringFault / 2));
      await cluster.allReady(60_000);
      await cluster.allPartitionsLed();
      observe(`pg_terminate_backend of ${first}, then ${second} sessions of the service (all but the oracle's own); every instance ready again`);
    },
  },
  {
    name: 'pg-restart',
    async inject({ cluster, rng, liveness, observe }) {
      const mode = rng.pick(['fast', 'immediate'] as const);
      const more = rng.int(3000, 8000);
      const since = Date.now();
      await cluster.stopPostgres(mode);
      let healedAt: number;
      try {
        // Every role needs PostgreSQL.
        await liveness.turnsNotReady(cluster.alive(), since, `PostgreSQL stopped (${mode})`);
        // Operations meet the stopped database a while longer: the outage's length is the fault itself.
        await hold(more);
      } finally {
        await cluster.startPostgres();
        healedAt = Date.now();
      }
      await liveness.recovered(healedAt);
      await cluster.allReady(60_000);
      await cluster.allPartitionsLed();
      observe(`PostgreSQL stopped by its pid (${mode} shutdown) for ${healedAt - since} ms, then started on the same port; every instance ready again`);
    },
  },
];
