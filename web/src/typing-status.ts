import { h } from './dom';

/** DESIGN.md §9: "alice is typing…", "alice, bob are typing…", or empty when nobody is. */
export function typingText(typists: readonly string[]): string {
  if (typists.length === 0) return '';
  return typists.length === 1 ? `${typists[0]} is typing…` : `${typists.join(', ')} are typing…`;
}

/** [status] "Typing" of the open chat: a live region, so a screen reader says who started typing. */
export function typingStatus(): { element: HTMLElement; show(typists: readonly string[]): void } {
  const element = h('p', { role: 'status', 'aria-label': 'Typing', class: 'typing' });
  return {
    element,
    show(typists) {
      const text = typingText(typists);
      if (element.textContent !== text) element.textContent = text;
    },
  };
}
