import { AccessTokenVerifier, EventHistory, type ChannelMessage, type HistoryPage, type HistoryRecord, type PruningCheck, type VerifiedAccessToken } from '../../src/application';

/** A `messageAdded` of `chatId` with seq `seq` at cursor `1.<seq>`, as the relay carries it. */
export function messageAdded(chatId: string, seq: number, content: string): ChannelMessage {
  const cursor = `1.${seq}`;
  return {
    channel: 'messageAdded',
    payload: { id: `m${seq}`, chatId, senderId: 'alice', content, seq, createdAt: '2026-12-01T00:00:00.000Z', isEdited: false, editedAt: null, cursor },
    meta: { eventId: `e${seq}`, cursor, chatId, seq, occurredAt: '2026-12-01T00:00:00.000Z' },
  };
}

/** A chat's history as an in-memory list, read in pages of at most 500 records as the adapter does. */
export class FakeHistory extends EventHistory {
  /** Records of partition 0 unless they say otherwise. */
  records: (Omit<HistoryRecord, 'partition'> & { partition?: number })[] = [];
  /** When set, reading waits for it: the test decides when history is read. */
  gate: Promise<void> | null = null;

  async inChat(_chatId: string, after: string): Promise<HistoryPage> {
    if (this.gate) await this.gate;
    const from = Number(after.split('.')[1]);
    const rest = this.records.filter((record) => Number(record.cursor.split('.')[1]) > from).map((record) => ({ partition: 0, ...record }));
    return { records: rest.slice(0, 500), more: rest.length > 500 };
  }
  async head(): Promise<string> {
    return '0.0';
  }
  async forUser(): Promise<HistoryPage> {
    return { records: [], more: false };
  }
  async wasParticipantAt(): Promise<boolean> {
    return true;
  }
  async currentUnreadCounts(): Promise<ChannelMessage[]> {
    return [];
  }

  /** Nothing is ever pruned here. */
  async missedByPruning(): Promise<PruningCheck> {
    return { missed: false, mark: '' };
  }
}

/** The token is the user id, valid for an hour. */
export class TokenIsUserId extends AccessTokenVerifier {
  async verify(token: string): Promise<VerifiedAccessToken> {
    return { userId: token, expiresAt: Date.now() + 3_600_000 };
  }
}
