import type { ConnectionState } from '../../client';
import { h } from './dom';

/** DESIGN.md §9: the status "Connection" reads exactly "Connected", "Reconnecting…" or "Offline". */
const TEXT: Record<ConnectionState, string> = {
  connecting: 'Reconnecting…',
  reconnecting: 'Reconnecting…',
  connected: 'Connected',
  offline: 'Offline',
  closed: 'Offline',
};

export function connectionStatus(): { element: HTMLElement; show(state: ConnectionState): void } {
  const element = h('p', { role: 'status', 'aria-label': 'Connection', class: 'connection' });
  return {
    element,
    show(state) {
      element.textContent = TEXT[state];
      element.dataset.state = state === 'connected' ? 'connected' : state === 'offline' || state === 'closed' ? 'offline' : 'reconnecting';
    },
  };
}
