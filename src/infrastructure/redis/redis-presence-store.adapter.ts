import type { Cluster, Redis } from 'ioredis';
import { PresenceStore, Unavailable, type PresenceRegistration, type PresenceSignal, type PresenceView } from '../../application';
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
 * - `{presence}:generations`: a hash, receiver id → the generation of its registration, and
 *   `{presence}:generation`, the counter they are drawn from. A receiver gets a new generation when it
 *   registers for the first time or after its claim lapsed, so whoever sweeps a lapsed registration
 *   touches only what that registration claimed, never what the receiver claimed again since.
 * - `{presence}:receiver:<id>:users`: the users a receiver has claimed, for whoever sweeps it. The
 *   same hash tag as the registry, so that removing a lapsed receiver and its list is one script.
 * - `presence:user:<userId>`: a hash per user, on whichever slot it falls: `r:<receiver id>` →
 *   generation for each receiver holding a socket of theirs, `on` the state last announced, `seen`
 *   (ms) when their last socket closed, `v` their transition count. Deciding a transition is one
 *   script on the one key, so concurrent receivers agree on it; announcing only a change of `on`
 *   means none is announced twice.
 * - `{presence}:fenced`: receiver id → the generation another receiver saw lapsed. That one may sweep
 *   it, so its next registration takes a new generation even if its own clock says its claim held.
 * - `{presence}:sweep:<id>:<generation>`: the lease of whoever sweeps a lapsed registration.
 *
 * The user's key is in another slot than the registry, so its scripts cannot read the registry: they
 * are told what the caller's last registration saw (the live receivers, and the highest generation
 * then). A field of a receiver that registered since (a higher generation) counts as live: the caller
 * could not know it yet. A field of any other receiver not live then counts as gone.
 */

/**
 * KEYS[1] registry, KEYS[2] generations, KEYS[3] generation counter, KEYS[4] fenced; ARGV: id, now,
 * claim ms. Renews the claim, with a new generation when it had lapsed (or never was), or when another
 * receiver saw it lapsed (fenced: that one may sweep it, whatever this receiver's clock says), and
 * answers [generation, rejoined (1/0), highest generation, then id, until, generation of every other
 * registration]. Each lapsed one it sees is fenced at its generation.
 */
const REGISTER = `
local now = tonumber(ARGV[2])
local claimedUntil = redis.call('ZSCORE', KEYS[1], ARGV[1])
local generation = redis.call('HGET', KEYS[2], ARGV[1])
local rejoined = 0
if not claimedUntil or tonumber(claimedUntil) <= now or not generation or redis.call('HGET', KEYS[4], ARGV[1]) == generation then
  generation = redis.call('INCR', KEYS[3])
  redis.call('HSET', KEYS[2], ARGV[1], generation)
  redis.call('HDEL', KEYS[4], ARGV[1])
  rejoined = 1
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
local answer = {tostring(generation), rejoined, redis.call('GET', KEYS[3]) or '0'}
local claims = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #claims, 2 do
  if claims[i] ~= ARGV[1] then
    local theirs = redis.call('HGET', KEYS[2], claims[i]) or '0'
    if tonumber(claims[i + 1]) <= now then redis.call('HSET', KEYS[4], claims[i], theirs) end
    table.insert(answer, claims[i])
    table.insert(answer, claims[i + 1])
    table.insert(answer, theirs)
  end
end
return answer`;

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

/**
 * (Lua) Drops the fields of receivers gone as the caller saw them, and answers whether a live one is
 * left. ARGV from index `first` on: the highest generation the caller knew, then the live receivers.
 */
const LIVE_FIELDS = `local function liveLeft(first)
  local known = tonumber(ARGV[first])
  local live = {}
  for i = first + 1, #ARGV do live['r:' .. ARGV[i]] = true end
  local left = false
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    local field = fields[i]
    if string.sub(field, 1, 2) == 'r:' then
      if live[field] or (tonumber(fields[i + 1]) or 0) > known then left = true
      else redis.call('HDEL', KEYS[1], field) end
    end
  end
  return left
end`;

/** KEYS[1] a user's hash; ARGV: receiver id, generation. Answers [version, seen] when that made the user online, else nil. */
const ATTACH = `
redis.call('HSET', KEYS[1], 'r:' .. ARGV[1], ARGV[2])
redis.call('PERSIST', KEYS[1])
if redis.call('HGET', KEYS[1], 'on') == '1' then return false end
redis.call('HSET', KEYS[1], 'on', '1')
return {${NEXT_VERSION}, redis.call('HGET', KEYS[1], 'seen') or false}`;

/**
 * KEYS[1] a user's hash; ARGV: receiver id, its generation ('' for this receiver's own: whichever),
 * retention ms, now, then the highest generation known and the live receivers. Takes the receiver's
 * field off (a sweep only one of the lapsed registration or earlier, never what the receiver claimed
 * again since), and answers the new version when no live receiver holds the user any more and they
 * were announced online, else nil.
 */
const DETACH = `
${LIVE_FIELDS}
local field = 'r:' .. ARGV[1]
local held = redis.call('HGET', KEYS[1], field)
if not held or (ARGV[2] ~= '' and (tonumber(held) or 0) > tonumber(ARGV[2])) then return false end
redis.call('HDEL', KEYS[1], field)
if liveLeft(5) then return false end
-- Nobody holds the user now (gone receivers' fields were dropped): the record may expire.
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('HGET', KEYS[1], 'on') == '0' then return false end
redis.call('HSET', KEYS[1], 'on', '0', 'seen', ARGV[4])
return ${NEXT_VERSION}`;

/**
 * KEYS[1] registry, KEYS[2] the receiver's users, KEYS[3] generations, KEYS[4] fenced; ARGV: id, now.
 * Forgets a receiver only if its claim still lapsed (it did not come back meanwhile).
 */
const FORGET_LAPSED = `
local claimedUntil = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not claimedUntil or tonumber(claimedUntil) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1`;

type PresenceCommands = (Redis | Cluster) & {
  parleyPresenceRegister(registry: string, generations: string, counter: string, fenced: string, id: string, now: number, claimMs: number): Promise<(string | number)[]>;
  parleyPresenceAttach(user: string, id: string, generation: string): Promise<[number, string | null] | null>;
  parleyPresenceDetach(user: string, ...args: (string | number)[]): Promise<number | null>;
  parleyPresenceForget(registry: string, users: string, generations: string, fenced: string, id: string, now: number): Promise<number>;
};

/** What this receiver's last registration saw. */
interface RegistrySeen {
  /** This receiver's generation. */
  generation: string;
  /** The highest generation then: a field above it is of a receiver that registered since. */
  known: string;
  /** The receivers whose claims held, this one included. */
  live: string[];
  /** The lapsed receivers, each with its generation. */
  lapsed: Map<string, string>;
}

/** Users detached from a lapsed receiver at once: one pipeline of scripts, each on its user's key. */
const SWEEP_CHUNK = 200;

/** Presence in Redis (DESIGN.md §10), on one server or a Redis Cluster: see the keys above. */
export class RedisPresenceStore extends PresenceStore {
  private readonly redis: PresenceCommands;
  private seen: RegistrySeen | null = null;
  /** Users whose unlisting from this receiver's users set failed: done again at the next registration. */
  private readonly toUnlist = new Set<string>();

  constructor(private readonly options: RedisPresenceStoreOptions) {
    super();
    // Connected on first use: a relay never uses it, a sender only when someone asks for presence.
    this.redis = commandConnection(options.target, { ...connectionOptions(options.commandTimeoutMs), maxRetriesPerRequest: 1, lazyConnect: true }) as PresenceCommands;
    this.redis.on('error', (error) => options.onError(error));
    this.redis.defineCommand('parleyPresenceRegister', { numberOfKeys: 4, lua: REGISTER });
    this.redis.defineCommand('parleyPresenceAttach', { numberOfKeys: 1, lua: ATTACH });
    this.redis.defineCommand('parleyPresenceDetach', { numberOfKeys: 1, lua: DETACH });
    this.redis.defineCommand('parleyPresenceForget', { numberOfKeys: 4, lua: FORGET_LAPSED });
  }

  private key(name: string): string {
    return `${this.options.prefix}${name}`;
  }

  private get registry(): string {
    return this.key('{presence}:receivers');
  }

  private get generations(): string {
    return this.key('{presence}:generations');
  }

  private get fenced(): string {
    return this.key('{presence}:fenced');
  }

  private usersOf(receiverId: string): string {
    return this.key(`{presence}:receiver:${receiverId}:users`);
  }

  private userKey(userId: string): string {
    return this.key(`presence:user:${userId}`);
  }

  async register(now: number): Promise<PresenceRegistration> {
    const me = this.options.receiverId;
    const answer = await this.redis.parleyPresenceRegister(this.registry, this.generations, this.key('{presence}:generation'), this.fenced, me, now, this.options.claimMs);
    const seen: RegistrySeen = { generation: String(answer[0]), known: String(answer[2]), live: [me], lapsed: new Map() };
    for (let i = 3; i < answer.length; i += 3) {
      const [id, until, generation] = [String(answer[i]), Number(answer[i + 1]), String(answer[i + 2])];
      if (until > now) seen.live.push(id);
      else seen.lapsed.set(id, generation);
    }
    this.seen = seen;
    // The registration holds whatever becomes of this: a listing that fails again waits for the next one.
    await this.relist().catch((error: unknown) => this.options.onError(error));
    return { rejoined: Number(answer[1]) === 1, lapsed: [...seen.lapsed.keys()] };
  }

  async attach(userId: string): Promise<PresenceSignal | null> {
    const seen = this.registered();
    // Listed first, and only then claimed: a sweeper that finds this receiver lapsed must find the
    // user too (on a Redis Cluster the two are on different masters, so they are not sent together).
    await this.redis.sadd(this.usersOf(this.options.receiverId), userId);
    this.toUnlist.delete(userId);
    const decided = await this.redis.parleyPresenceAttach(this.userKey(userId), this.options.receiverId, seen.generation);
    if (!decided) return null;
    const [version, lastSeen] = decided;
    return { userId, online: true, lastSeenAt: lastSeen === null ? null : isoOf(lastSeen), version: Number(version) };
  }

  async detach(userId: string, now: number): Promise<PresenceSignal | null> {
    const seen = this.registered();
    const signal = await this.detachFrom(this.options.receiverId, '', userId, now, seen, seen.live);
    // Decided: the transition is answered even if unlisting fails (it is done again at the next registration).
    await this.redis.srem(this.usersOf(this.options.receiverId), userId).then(
      () => this.toUnlist.delete(userId),
      (error: unknown) => {
        this.toUnlist.add(userId);
        this.options.onError(error);
      },
    );
    return signal;
  }

  async current(userId: string): Promise<PresenceSignal | null> {
    const [on, version, lastSeen] = await this.redis.hmget(this.userKey(userId), 'on', 'v', 'seen');
    if (on === null || version === null) return null;
    return { userId, online: on === '1', lastSeenAt: lastSeen === null ? null : isoOf(lastSeen), version: Number(version) };
  }

  async claimed(): Promise<string[]> {
    return this.redis.smembers(this.usersOf(this.options.receiverId));
  }

  /**
   * Under a lease on the lapsed registration (its generation in the key: a receiver that came back and
   * lapsed again is a new one to sweep), takes its users off it in pipelined chunks. Only once every
   * user is done is the receiver forgotten; after a failure the lease is let go, so the next renewal
   * (of any receiver) sweeps again, and the transitions decided so far are answered all the same.
   */
  async sweep(receiverId: string, now: number): Promise<PresenceSignal[]> {
    const seen = this.registered();
    const generation = seen.lapsed.get(receiverId);
    if (generation === undefined) return [];
    const lease = this.key(`{presence}:sweep:${receiverId}:${generation}`);
    if ((await this.redis.set(lease, this.options.receiverId, 'PX', this.options.claimMs * 2, 'NX')) !== 'OK') return [];
    const live = seen.live.filter((id) => id !== receiverId);
    const users = await this.redis.smembers(this.usersOf(receiverId));
    const signals: PresenceSignal[] = [];
    let failure: { error: unknown } | null = null;
    for (let i = 0; i < users.length; i += SWEEP_CHUNK) {
      const outcomes = await Promise.allSettled(users.slice(i, i + SWEEP_CHUNK).map((userId) => this.detachFrom(receiverId, generation, userId, now, seen, live)));
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') failure ??= { error: outcome.reason };
        else if (outcome.value) signals.push(outcome.value);
      }
    }
    if (failure) {
      this.options.onError(failure.error);
      await this.redis.del(lease).catch(() => undefined);
    } else {
      // Forgotten only if still lapsed; if that fails, the next sweep finds nothing left to announce and does it.
      await this.redis.parleyPresenceForget(this.registry, this.usersOf(receiverId), this.generations, this.fenced, receiverId, now).catch((error: unknown) => this.options.onError(error));
    }
    return signals;
  }

  async leave(): Promise<void> {
    // Claimed users were detached one by one before: only the registration is left.
    await this.redis.parleyPresenceForget(this.registry, this.usersOf(this.options.receiverId), this.generations, this.fenced, this.options.receiverId, Number.MAX_SAFE_INTEGER);
  }

  /** A client asked for this (`presence`): Redis out of reach is UNAVAILABLE (503, retry), not an internal error. */
  async lookup(userIds: readonly string[]): Promise<PresenceView[]> {
    if (userIds.length === 0) return [];
    const now = Date.now();
    let live: Set<string>;
    let records: Record<string, string>[];
    try {
      live = new Set(await this.redis.zrangebyscore(this.registry, `(${now}`, '+inf'));
      records = await Promise.all(userIds.map((userId) => this.redis.hgetall(this.userKey(userId))));
    } catch {
      throw new Unavailable('redis', 'presence could not be read');
    }
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

  private async detachFrom(receiverId: string, generation: string, userId: string, now: number, seen: RegistrySeen, live: string[]): Promise<PresenceSignal | null> {
    const version = await this.redis.parleyPresenceDetach(this.userKey(userId), receiverId, generation, RECORD_RETENTION_MS, now, seen.known, ...live);
    return version === null ? null : { userId, online: false, lastSeenAt: new Date(now).toISOString(), version: Number(version) };
  }

  /** Claims wait for the first registration (the tracker sees to it): until then there is no generation to claim under. */
  private registered(): RegistrySeen {
    if (!this.seen) throw new Error('presence: this receiver has not registered yet');
    return this.seen;
  }

  /** The unlistings that failed, again (a listing that fails fails its claim, which is tried again). */
  private async relist(): Promise<void> {
    const unlist = [...this.toUnlist];
    if (unlist.length === 0) return;
    await this.redis.srem(this.usersOf(this.options.receiverId), ...unlist);
    for (const userId of unlist) this.toUnlist.delete(userId);
  }
}

function isoOf(milliseconds: string): string {
  return new Date(Number(milliseconds)).toISOString();
}
