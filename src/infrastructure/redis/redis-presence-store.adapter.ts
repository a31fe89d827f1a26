import type { Cluster, Redis } from 'ioredis';
import { PresenceStore, type PresenceRegistration, type PresenceSignal, type PresenceView } from '../../application';
import { commandConnection, connectionOptions, type RedisTarget } from './redis-connections';

export interface RedisPresenceStoreOptions {
  target: RedisTarget;
  prefix: string;
  commandTimeoutMs: number;
  /** This receiver's id (unique per process); unused by a process that only reads. */
  receiverId: string;
  /** How long a registration holds without renewal (twice the renewal interval). */
  claimMs: number;
  onError(error: unknown): void;
}

/** `lastSeenAt` is kept at least 30 days (DESIGN.md §10): a user's record expires this long after its last change. */
const RECORD_RETENTION_MS = 31 * 24 * 3600 * 1000;

/*
 * The keys (prefix applied), and why each lives where it does:
 * - `{presence}:receivers`: a sorted set, receiver id → until when its claim holds. Renewed by each
 *   receiver once per interval: the only command presence costs while nobody connects or leaves.
 * - `{presence}:receiver:<id>:users`: the users a receiver has claimed, for whoever sweeps it. The
 *   same hash tag as the registry, so that removing a lapsed receiver and its list is one script.
 * - `presence:user:<userId>`: a hash per user, on whichever slot it falls: `r:<receiver id>` for each
 *   receiver holding a socket of theirs, `seen` (ms) when their last socket closed, `v` their
 *   transition count. A user is online while a field names a receiver whose claim holds; deciding a
 *   transition is one script on the one key, so concurrent receivers agree on it.
 * - `{presence}:sweep:<id>`: the lease of whoever sweeps a lapsed receiver.
 */

/**
 * KEYS[1] registry; ARGV: id, now, claim ms. Renews the claim and answers every registration as it was
 * just before ([id, until, id, until, …]): this receiver's own old one says whether it had lapsed.
 */
const REGISTER = `
local claims = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return claims`;

/**
 * The user's next transition version (Lua expression): above the last one, and never below Redis's
 * clock in ms, so versions keep rising even after a record expired and was made anew.
 */
const NEXT_VERSION = `(function()
  local time = redis.call('TIME')
  local version = math.max(tonumber(redis.call('HGET', KEYS[1], 'v') or '0') + 1, tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
  redis.call('HSET', KEYS[1], 'v', string.format('%d', version))
  return version
end)()`;

/** KEYS[1] a user's hash; ARGV: receiver id, retention ms, then the live receivers. Answers the new version, or nil. */
const ATTACH = `
local live = {}
for i = 3, #ARGV do live['r:' .. ARGV[i]] = true end
local online = false
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if live[field] then online = true end
end
redis.call('HSET', KEYS[1], 'r:' .. ARGV[1], '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if online then return false end
return {${NEXT_VERSION}, redis.call('HGET', KEYS[1], 'seen') or false}`;

/**
 * KEYS[1] a user's hash; ARGV: receiver id (this one, or a lapsed one being swept), retention ms, now,
 * then the live receivers. Answers the new version when the user went offline, else nil.
 */
const DETACH = `
if redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1]) == 0 then return false end
local live = {}
for i = 4, #ARGV do live['r:' .. ARGV[i]] = true end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if live[field] then return false end
end
redis.call('HSET', KEYS[1], 'seen', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return ${NEXT_VERSION}`;

/** KEYS[1] registry, KEYS[2] the receiver's users; ARGV: id, now. Forgets a receiver only if its claim still lapsed. */
const FORGET_LAPSED = `
local claimedUntil = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not claimedUntil or tonumber(claimedUntil) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1`;

type PresenceCommands = (Redis | Cluster) & {
  parleyPresenceRegister(registry: string, id: string, now: number, claimMs: number): Promise<string[]>;
  parleyPresenceAttach(user: string, ...args: (string | number)[]): Promise<[number, string | null] | null>;
  parleyPresenceDetach(user: string, ...args: (string | number)[]): Promise<number | null>;
  parleyPresenceForget(registry: string, users: string, id: string, now: number): Promise<number>;
};

/** Presence in Redis (DESIGN.md §10), on one server or a Redis Cluster: see the keys above. */
export class RedisPresenceStore extends PresenceStore {
  private readonly redis: PresenceCommands;
  /** The receivers whose claims held at the last registration, this one included. */
  private live: string[] = [];

  constructor(private readonly options: RedisPresenceStoreOptions) {
    super();
    // Connected on first use: a relay never uses it, a sender only when someone asks for presence.
    this.redis = commandConnection(options.target, { ...connectionOptions(options.commandTimeoutMs), maxRetriesPerRequest: 1, lazyConnect: true }) as PresenceCommands;
    this.redis.on('error', (error) => options.onError(error));
    this.redis.defineCommand('parleyPresenceRegister', { numberOfKeys: 1, lua: REGISTER });
    this.redis.defineCommand('parleyPresenceAttach', { numberOfKeys: 1, lua: ATTACH });
    this.redis.defineCommand('parleyPresenceDetach', { numberOfKeys: 1, lua: DETACH });
    this.redis.defineCommand('parleyPresenceForget', { numberOfKeys: 2, lua: FORGET_LAPSED });
  }

  private key(name: string): string {
    return `${this.options.prefix}${name}`;
  }

  private get registry(): string {
    return this.key('{presence}:receivers');
  }

  private usersOf(receiverId: string): string {
    return this.key(`{presence}:receiver:${receiverId}:users`);
  }

  private userKey(userId: string): string {
    return this.key(`presence:user:${userId}`);
  }

  async register(now: number): Promise<PresenceRegistration> {
    const me = this.options.receiverId;
    const claims = await this.redis.parleyPresenceRegister(this.registry, me, now, this.options.claimMs);
    const live = [me];
    const lapsed: string[] = [];
    let rejoined = true;
    for (let i = 0; i < claims.length; i += 2) {
      const [id, until] = [claims[i]!, Number(claims[i + 1])];
      if (id === me) rejoined = until <= now;
      else (until > now ? live : lapsed).push(id);
    }
    this.live = live;
    return { rejoined, lapsed };
  }

  async attach(userId: string): Promise<PresenceSignal | null> {
    const [, answer] = await Promise.all([
      // Listed first: a sweeper that finds this receiver lapsed must find the user too.
      this.redis.sadd(this.usersOf(this.options.receiverId), userId),
      this.redis.parleyPresenceAttach(this.userKey(userId), this.options.receiverId, RECORD_RETENTION_MS, ...this.liveIncludingMe()),
    ]);
    if (!answer) return null;
    const [version, seen] = answer;
    return { userId, online: true, lastSeenAt: seen === null ? null : isoOf(seen), version: Number(version) };
  }

  async detach(userId: string, now: number): Promise<PresenceSignal | null> {
    const signal = await this.detachFrom(this.options.receiverId, userId, now, this.liveIncludingMe());
    await this.redis.srem(this.usersOf(this.options.receiverId), userId);
    return signal;
  }

  async claimed(): Promise<string[]> {
    return this.redis.smembers(this.usersOf(this.options.receiverId));
  }

  async sweep(receiverId: string, now: number): Promise<PresenceSignal[]> {
    const lease = await this.redis.set(this.key(`{presence}:sweep:${receiverId}`), this.options.receiverId, 'PX', this.options.claimMs * 2, 'NX');
    if (lease !== 'OK') return [];
    const live = this.live.filter((id) => id !== receiverId);
    const signals: PresenceSignal[] = [];
    for (const userId of await this.redis.smembers(this.usersOf(receiverId))) {
      const signal = await this.detachFrom(receiverId, userId, now, live);
      if (signal) signals.push(signal);
    }
    // The transitions are decided: they are announced even if forgetting the receiver fails (the next sweep does it).
    await this.redis.parleyPresenceForget(this.registry, this.usersOf(receiverId), receiverId, now).catch((error: unknown) => this.options.onError(error));
    return signals;
  }

  async leave(): Promise<void> {
    // Claimed users were detached one by one before: only the registration is left.
    await this.redis.parleyPresenceForget(this.registry, this.usersOf(this.options.receiverId), this.options.receiverId, Number.MAX_SAFE_INTEGER);
  }

  async lookup(userIds: readonly string[]): Promise<PresenceView[]> {
    if (userIds.length === 0) return [];
    const now = Date.now();
    const live = new Set(await this.redis.zrangebyscore(this.registry, `(${now}`, '+inf'));
    const records = await Promise.all(userIds.map((userId) => this.redis.hgetall(this.userKey(userId))));
    return userIds.map((userId, i) => {
      const record = records[i]!;
      const online = Object.keys(record).some((field) => field.startsWith('r:') && live.has(field.slice(2)));
      return { userId, online, lastSeenAt: record.seen === undefined ? null : isoOf(record.seen) };
    });
  }

  async close(): Promise<void> {
    if (this.redis.status === 'wait') return this.redis.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async detachFrom(receiverId: string, userId: string, now: number, live: string[]): Promise<PresenceSignal | null> {
    const version = await this.redis.parleyPresenceDetach(this.userKey(userId), receiverId, RECORD_RETENTION_MS, now, ...live);
    return version === null ? null : { userId, online: false, lastSeenAt: new Date(now).toISOString(), version: Number(version) };
  }

  /** Before the first registration answers, this receiver is live all the same: it is registering. */
  private liveIncludingMe(): string[] {
    return this.live.includes(this.options.receiverId) ? this.live : [...this.live, this.options.receiverId];
  }
}

function isoOf(milliseconds: string): string {
  return new Date(Number(milliseconds)).toISOString();
}
