import type { ChannelMessage, RelayedRecord } from '../../application';

const NESTED = '\u0000parley:nested\u0000';
const NESTED_JSON = JSON.stringify(NESTED);

/**
 * Writes wire messages (DESIGN.md §3: `{ "<channel>": payload, "meta": {…} }`, meta last). A payload
 * that several channels of a row share (a post's message is in three) is serialised once per batch, as
 * is a message nested in a list item; no string a client sends can hold the NUL of the placeholder.
 */
export class WireWriter {
  private readonly json = new Map<object, string>();

  message(record: RelayedRecord, message: ChannelMessage, index: number): string {
    const previous = record.previous === undefined ? '' : `,"previous":${JSON.stringify(record.previous)}`;
    const fields = JSON.stringify(message.meta);
    const meta = `${fields === '{}' ? '{' : `${fields.slice(0, -1)},`}"position":${JSON.stringify(record.position)}${previous},"index":${index},"count":${record.messages.length}}`;
    return `{${JSON.stringify(message.channel)}:${this.payload(message.payload)},"meta":${meta}}`;
  }

  private payload(payload: Record<string, unknown>): string {
    let text = this.json.get(payload);
    if (text !== undefined) return text;
    const nested = payload.message;
    text = nested && typeof nested === 'object'
      ? JSON.stringify({ ...payload, message: NESTED }).replace(NESTED_JSON, () => this.payload(nested as Record<string, unknown>))
      : JSON.stringify(payload);
    this.json.set(payload, text);
    return text;
  }
}
