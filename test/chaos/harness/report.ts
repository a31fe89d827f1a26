import type { Failure } from '../oracle/oracle';
import type { SkippedFault } from './faults';
import type { ClusterColumn, Measure } from './liveness';
import type { ClientNote } from './resuming-client';

/** What a chaos run saw, and the text of its report. */

export interface RoundReport {
  name: string;
  observed: string[];
  operations: number;
  durationMs: number;
  quiesceMs: number;
  caughtUp: boolean;
  newFailures: number;
  /** What the oracle compared after this round (cumulative counts). */
  checked: Record<string, number>;
  /** messageAdded delay (post's createdAt → frame received) of what arrived during the round. */
  delayMs: { count: number; p50: number; p99: number; max: number };
  /** The fault's timings (time to 503, until another relay led, until delivery resumed), with their bounds. */
  measures: Measure[];
  /** Kinds of the failures that appeared in this round (the oracle's and the liveness bounds'). */
  failureKinds: string[];
}

export interface RunReport {
  seed: number;
  profile: string;
  /** One redis-server, or a Redis Cluster (CHAOS_REDIS=cluster). */
  redis: 'single' | 'cluster';
  /** Faults this run did not inject, and why (they do not apply to its Redis). */
  skipped: SkippedFault[];
  /** The faults a rerun must name (CHAOS_FAULTS) to run what this run ran, when the profile alone would choose others; else null. */
  rerunFaults: string[] | null;
  rounds: RoundReport[];
  failures: Failure[];
  outcomes: Map<string, number>;
  notes: ClientNote[];
  resumes: number;
  logs: string | null;
  reportFile: string | null;
}

export function formatReport(report: RunReport): string {
  const lines = [
    `chaos run: seed ${report.seed} (${report.profile}, ${report.redis === 'cluster' ? 'a Redis Cluster of 3 masters and 3 replicas' : 'one Redis'}${process.env.CHAOS_AVOID_KNOWN_DEFECTS === '1' ? ', avoiding the known defects' : ''}); `
      + `rerun with ${rerunCommand(report)}`,
    ...(report.skipped.length ? ['', `not run on ${report.redis === 'cluster' ? 'a Redis Cluster' : 'one Redis'}:`, ...report.skipped.map((s) => `  ${s.name}: ${s.reason}`)] : []),
    '',
    'rounds:',
    ...report.rounds.map((r) => `  ${r.name}: ${r.operations} operations, ${r.durationMs} ms, quiet ${r.caughtUp ? 'after' : 'NOT within'} ${r.quiesceMs} ms, ${r.newFailures} new failures${r.observed.length ? `\n    ${r.observed.join('\n    ')}` : ''}${r.measures.map((m) => `\n    measured: ${formatMeasure(m)}`).join('')}\n    messageAdded delay ms (live and resumed frames): p50 ${r.delayMs.p50}, p99 ${r.delayMs.p99}, max ${r.delayMs.max} (${r.delayMs.count} frames)\n    checked: ${Object.entries(r.checked).map(([k, v]) => `${k} ${v}`).join(', ')}`),
    `client resumes (resubscriptions with a last cursor): ${report.resumes}`,
    '',
    'per fault (time to 503 | another relay led | delivery resumed after healing | every process ready again | operations that met INTERNAL_SERVER_ERROR / UNAVAILABLE / an unknown outcome / no answer | failures):',
    ...report.rounds.filter((r) => r.name !== 'calm').map((r) => `  ${r.name}: ${faultSummary(r, report.outcomes)}`),
    ...clusterSummary(report.rounds),
    '',
    `failures (${report.failures.length}, first per kind/user/chat):`,
    ...report.failures.map((f) => `  ${formatFailure(f)}`),
    '',
    'client notes:',
    ...summarize(report.notes.map((n) => `${n.key}: ${n.what.replace(/[0-9a-f-]{36}/g, '<id>')}`)),
    '',
    'operation outcomes (round | operation → outcome: count):',
    ...[...report.outcomes.entries()].map(([k, v]) => `  ${k}: ${v}`),
  ];
  if (report.logs) lines.push('', `process logs: ${report.logs}`);
  return lines.join('\n');
}

/** The command that runs this seed again, on the same Redis, with the same faults. */
export function rerunCommand(report: Pick<RunReport, 'seed' | 'profile' | 'redis' | 'rerunFaults'>): string {
  const faults = report.rerunFaults ? ` CHAOS_FAULTS=${report.rerunFaults.join(',') || 'none'}` : '';
  return `CHAOS_SEED=${report.seed} CHAOS_REDIS=${report.redis}${faults}${report.profile === 'full' ? ' npm run test:chaos' : ' npx jest test/chaos'}`;
}

export function formatMeasure(m: Measure): string {
  const late = m.bound !== undefined && (m.ms === null || m.ms > m.bound);
  const time = m.ms === null ? (m.bound === undefined && m.detail ? '' : 'never') : `${m.ms} ms`;
  return `${m.what}${time ? `: ${time}` : ''}${m.bound !== undefined ? ` (bound ${m.bound} ms${late ? ', BROKEN' : ''})` : ''}${m.detail ? ` [${m.detail}]` : ''}`;
}

const CLUSTER_COLUMNS: ClusterColumn[] = ['fault', 'noticed', 'resubscribed', 'filled', 'delivery', 'caught up'];

/** One line per Redis Cluster fault: the timings of what a client saw, in the columns of `ClusterColumn`. */
function clusterSummary(rounds: RoundReport[]): string[] {
  const lines = rounds.filter((r) => r.measures.some((m) => m.column)).map((r) => {
    const cell = (column: ClusterColumn) => r.measures.filter((m) => m.column === column).map((m) => (m.ms === null ? 'never' : `${m.ms} ms`)).join(', ') || '-';
    return `  ${r.name}: ${CLUSTER_COLUMNS.map(cell).join(' | ')}`;
  });
  if (!lines.length) return [];
  return [
    '',
    'Redis Cluster faults (the fault: replica elected after the SIGKILL, failover, migration or cut-off | receivers noticed the tick timeout | every receiver subscribed anew | '
      + 'every receiver filled from the outbox (both from the fault\'s start) | delivery resumed | every post made during the fault arrived (both from its end)):',
    ...lines,
  ];
}

/** One line per fault: its timings, the coded errors operations met in its round, and what failed. */
function faultSummary(r: RoundReport, outcomes: Map<string, number>): string {
  const times = (prefix: string) => r.measures.filter((m) => m.what.startsWith(prefix) || m.what.endsWith(prefix))
    .map((m) => `${m.what.endsWith(prefix) ? `${m.what.slice(0, -prefix.length).trim()} ` : ''}${m.ms === null ? 'never' : `${m.ms} ms`}`).join(', ') || '-';
  const met = (needle: string) => [...outcomes.entries()].filter(([key]) => key.startsWith(`${r.name} | `) && key.includes(needle) && !key.includes('outcome unknown at an attempt')).reduce((n, [, v]) => n + v, 0);
  return [
    times('/readyz 503'),
    times('led by another relay'),
    times('delivery resumed after healing'),
    times('every process ready again after healing'),
    `${met('INTERNAL_SERVER_ERROR')} / ${met('UNAVAILABLE')} / ${met('outcomeUnknown')} / ${met('TimeoutError')}`,
    r.failureKinds.length ? r.failureKinds.join('; ') : 'none (nothing lost or repeated)',
  ].join(' | ');
}

export function formatFailure(f: Failure): string {
  return `[${f.round}] ${f.kind}${f.userId ? ` user=${f.userId}` : ''}${f.chatId ? ` chat=${f.chatId}` : ''}: ${f.detail}`;
}

function summarize(lines: string[]): string[] {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
  return [...counts.entries()].map(([line, count]) => `  ${line} (×${count})`);
}
