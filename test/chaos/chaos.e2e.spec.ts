import { runChaos } from './harness/chaos-run';
import { stopAllClusters } from './harness/cluster';
import { mostSlowFaults } from './harness/faults';
import { chaosProfile } from './harness/profile';
import { formatReport, rerunCommand } from './harness/report';

const profile = chaosProfile();
/**
 * A green seed takes 1–3 min (bounded) or 3–5 min (full, every fault) on a busy 2-core machine; a
 * failing one stops itself once its budget (profile.ts, more for each slow fault) is gone and the
 * round in progress ends. Generous, so that only a hang (not a slow machine) hits it.
 */
const perSeedMs = (redis: 'single' | 'cluster') => profile.budgetMs + mostSlowFaults(profile.name, profile.faults, redis) * profile.slowFaultBudgetMs + 8 * 60_000;

/**
 * The chaos suite (see test/README.md "Chaos"): a seeded random workload over 2 senders, 3 receivers
 * and 2 relays sharing 4 ordering partitions, one fault at a time (or two at once), and after each fault an oracle that compares
 * what every subscriber saw, the read models and the receipts with the event store, beside liveness
 * bounds on how fast the cluster noticed the fault and got over it. Each seed runs on one Redis or on a
 * Redis Cluster (CHAOS_REDIS; see profile.ts). On failure the message starts with the seed and the
 * command that repeats the run.
 */
describe(`chaos (${profile.name}: ${profile.runs.length} run${profile.runs.length === 1 ? '' : 's'})`, () => {
  afterAll(() => stopAllClusters(), 60_000);

  for (const run of profile.runs) {
    const on = run.redis === 'cluster' ? `on a Redis Cluster${run.clusterFaultsOnly ? ' (the quick cluster faults)' : ''}` : 'on one Redis';
    it(`seed ${run.seed} ${on}: every subscriber, count, chat list and receipt equals the event store after each fault`, async () => {
      const report = await runChaos(run, profile, (line) => process.stderr.write(`[chaos] ${line}\n`));
      const text = formatReport(report);
      process.stderr.write(`${text}\n`);
      if (report.failures.length > 0) {
        throw new Error(`CHAOS FAILED for seed ${run.seed} ${on} (rerun: ${rerunCommand(report)})\n${text}`);
      }
    }, perSeedMs(run.redis));
  }
});
