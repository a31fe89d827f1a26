import { runChaos } from './harness/chaos-run';
import { stopAllClusters } from './harness/cluster';
import { mostSlowFaults } from './harness/faults';
import { chaosProfile } from './harness/profile';
import { formatReport } from './harness/report';

const profile = chaosProfile();
/**
 * A green seed takes 1–3 min (bounded) or 3–5 min (full, every fault) on a busy 2-core machine; a
 * failing one stops itself once its budget (profile.ts, more for each slow fault) is gone and the
 * round in progress ends. Generous, so that only a hang (not a slow machine) hits it.
 */
const PER_SEED_MS = profile.budgetMs + mostSlowFaults(profile.name, profile.faults) * profile.slowFaultBudgetMs + 8 * 60_000;

/**
 * The chaos suite (see test/README.md "Chaos"): a seeded random workload over 2 senders, 3 receivers
 * and 2 relays sharing 4 ordering partitions, one fault at a time (or two at once), and after each fault an oracle that compares
 * what every subscriber saw, the read models and the receipts with the event store, beside liveness
 * bounds on how fast the cluster noticed the fault and got over it. On failure the message starts
 * with the seed: CHAOS_SEED=<seed> repeats the run.
 */
describe(`chaos (${profile.name}: ${profile.seeds.length} seed${profile.seeds.length === 1 ? '' : 's'})`, () => {
  afterAll(() => stopAllClusters(), 60_000);

  for (const seed of profile.seeds) {
    it(`seed ${seed}: every subscriber, count, chat list and receipt equals the event store after each fault`, async () => {
      const report = await runChaos(seed, profile, (line) => process.stderr.write(`[chaos] ${line}\n`));
      const text = formatReport(report);
      process.stderr.write(`${text}\n`);
      if (report.failures.length > 0) {
        throw new Error(`CHAOS FAILED for seed ${seed} (rerun: CHAOS_SEED=${seed}${profile.name === 'full' ? ' CHAOS_PROFILE=full' : ''} npx jest test/chaos)\n${text}`);
      }
    }, PER_SEED_MS);
  }
});
