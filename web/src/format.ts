const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function shortTime(iso: string): string {
  return time.format(new Date(iso));
}

export function fullTime(iso: string): string {
  return full.format(new Date(iso));
}

/** Participant ids as typed: separated by commas or white space. */
export function parseIds(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((id) => id.length > 0))];
}

/** A clientMessageId: safe retries of a post (DESIGN.md §2). `crypto.randomUUID` needs a secure context; this does not. */
export function newClientMessageId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
