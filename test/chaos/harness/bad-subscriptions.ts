import { randomUUID } from 'node:crypto';
import { connectClient, subscribe } from '../../support/ws-client';
import type { ChaosCluster } from './cluster';
import { SUBSCRIPTIONS } from './resuming-client';
import type { Workload } from './workload';

/**
 * Bad input over WebSocket: each must be refused with a clear code (DESIGN.md §5) and leave the
 * receiver serving everyone else, which the oracle's next check shows.
 */
export async function tryBadSubscriptions(cluster: ChaosCluster, workload: Workload, tokens: Map<string, string>, stranger: string): Promise<void> {
  const receiver = cluster.alive('receiver')[0]!;
  const chat = [...workload.chats.values()][0]!;
  const member = tokens.get(chat.creator)!;
  const cases: { name: string; token: string | null; variables: Record<string, unknown>; expected: string }[] = [
    { name: 'subscribe with an after that is not a cursor', token: member, variables: { chatId: chat.id, after: 'yesterday' }, expected: 'BAD_USER_INPUT' },
    { name: 'subscribe with an after beyond any cursor (2^64)', token: member, variables: { chatId: chat.id, after: '18446744073709551616.1' }, expected: 'BAD_USER_INPUT' },
    { name: 'subscribe to a chat as a non-participant', token: tokens.get(stranger)!, variables: { chatId: chat.id, after: '0.0' }, expected: 'FORBIDDEN' },
    { name: 'subscribe to a chat that does not exist', token: member, variables: { chatId: randomUUID(), after: '0.0' }, expected: 'NOT_FOUND' },
  ];
  for (const test of cases) {
    const client = connectClient(receiver.url, test.token);
    try {
      const received = subscribe(client, SUBSCRIPTIONS.messageAdded, test.variables);
      const error = (await received.error(10_000)) as { extensions?: { code?: string } }[];
      record(workload, test.name, test.expected, Array.isArray(error) ? String(error[0]?.extensions?.code) : `closed ${(error as { code?: number }).code}`);
    } catch (error) {
      record(workload, test.name, test.expected, `no error: ${(error as Error).message.slice(0, 120)}`);
    } finally {
      await client.dispose();
    }
  }
  let closedWith: number | null = null;
  const anonymous = connectClient(receiver.url, null, (code) => (closedWith = code));
  try {
    const received = subscribe(anonymous, SUBSCRIPTIONS.messageAdded, { chatId: chat.id, after: '0.0' });
    await received.error(10_000).catch(() => undefined);
  } finally {
    await anonymous.dispose();
  }
  record(workload, 'WebSocket without a token', 'closed 4401', `closed ${closedWith}`);
}

function record(workload: Workload, name: string, expected: string, observed: string): void {
  workload.badInputs.push({ name, expected: [expected], observed });
  workload.noteOutcome('bad subscription', `${name} → ${observed}`);
  if (observed !== expected) workload.anomalies.push({ kind: `bad input "${name}" not refused with ${expected}`, detail: `answered ${observed}` });
}
