import type { PresenceMap, UserPresence } from '../../client';
import { h, replaceChildren } from './dom';
import { fullTime } from './format';

/**
 * The open chat's participants in its header (DESIGN.md §9), each other participant's id followed by
 * an `img` "online" or "offline". The dot is drawn by CSS and has no text, so the line reads as the
 * ids alone ("alice, bob") and the state is in the accessible name.
 */
export function renderParticipants(line: HTMLElement, participantIds: readonly string[], me: string, presence: PresenceMap | null): void {
  const parts = participantIds.flatMap((userId, index) => [
    index > 0 ? ', ' : null,
    userId,
    userId === me ? null : presenceDot(presence?.get(userId)),
  ]);
  replaceChildren(line, ...parts);
}

function presenceDot(presence: UserPresence | undefined): HTMLElement {
  // Unknown (not loaded yet, or while disconnected before the first load) shows as offline: the two labels are the contract.
  const online = presence?.online === true;
  const lastSeen = !online && presence?.lastSeenAt ? `, last seen ${fullTime(presence.lastSeenAt)}` : '';
  return h('span', {
    role: 'img',
    'aria-label': online ? 'online' : 'offline',
    title: online ? 'online' : `offline${lastSeen}`,
    class: 'presence',
    'data-state': online ? 'online' : 'offline',
  });
}
