import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Labels } from '../difc/labels.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import type { SessionRecord, SharedState } from './shared.ts';

const log = logger('state');
/** How long one command may take before the store counts as unreachable. */
const COMMAND_MS = 2_000;

/**
 * The first replica to reach the store marks it with an epoch; every label read and update
 * checks the mark is still there. A store that lost its data (restarted without persistence)
 * has lost the mark too: its labels would be fresh ones, so calls are refused until the replicas
 * are restarted (and mark it anew), never served on forgotten taint.
 */
const LABELS = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('MCPG_EPOCH the store no longer holds the labels it held') end
local stored = redis.call('GET', KEYS[2])
local labels = cjson.decode(stored or ARGV[2])
if ARGV[3] == '' then
  if not stored then redis.call('SET', KEYS[2], ARGV[2]) end
  return stored or ARGV[2]
end
local read = cjson.decode(ARGV[3])
local secrecy, seen = {}, {}
for _, t in ipairs(labels.secrecy or {}) do if not seen[t] then seen[t] = true; table.insert(secrecy, t) end end
for _, t in ipairs(read.secrecy or {}) do if not seen[t] then seen[t] = true; table.insert(secrecy, t) end end
local kept, readIntegrity = {}, {}
for _, t in ipairs(read.integrity or {}) do readIntegrity[t] = true end
for _, t in ipairs(labels.integrity or {}) do if readIntegrity[t] then table.insert(kept, t) end end
local out = cjson.encode({ secrecy = secrecy, integrity = kept })
redis.call('SET', KEYS[2], out)
return out
`;

/** Calls in flight per agent: a sorted set of call ids by deadline (the store's clock), past ones dropped. */
const ADMIT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`;

/** Labels as stored: cjson writes an empty list as an empty object. */
function parsed(json: string): Labels {
  const l = JSON.parse(json) as { secrecy?: unknown; integrity?: unknown };
  const list = (x: unknown) => (Array.isArray(x) ? x.filter((t): t is string => typeof t === 'string') : []);
  return { secrecy: list(l.secrecy), integrity: list(l.integrity) };
}

/**
 * The shared state in Redis or Valkey (`redis://[:PASSWORD@]HOST:PORT/DB`, `rediss://` for TLS):
 * label updates are one script each (atomic), commands fail at once while the store is down
 * (no queue), and the client reconnects on its own.
 */
export class RedisState implements SharedState {
  readonly where: string;
  readonly #redis: Redis;
  #epoch?: Promise<string>;

  constructor(url: string) {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    this.where = u.toString();
    this.#redis = new Redis(url, {
      lazyConnect: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: COMMAND_MS,
      commandTimeout: COMMAND_MS,
      retryStrategy: () => 500,
      keyPrefix: 'mcpg:',
      // Commands of one tick go in one write: a call's label read and its admission share a round trip.
      enableAutoPipelining: true,
    });
    this.#redis.on('error', (err: Error) => log.debug(`${this.where}: ${err.message}`));
    this.#redis.on('ready', () => log.info(`shared state at ${this.where}: connected`));
    this.#redis.defineCommand('mcpgLabels', { numberOfKeys: 2, lua: LABELS });
    this.#redis.defineCommand('mcpgAdmit', { numberOfKeys: 1, lua: ADMIT });
  }

  get reachable(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Runs a command; a failure is the plain error of a store that cannot be reached (or lost its data). */
  async #run<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      await this.#first();
      return await command();
    } catch (err) {
      const message = errorMessage(err);
      // The mark stays this replica's: it never marks the store anew by itself, so a store that
      // lost its data is refused until the replicas restart.
      if (message.includes('MCPG_EPOCH')) {
        throw new McpgError('STATE_UNAVAILABLE', `the shared state at ${this.where} no longer holds the labels it held (was it restarted without persistence?); calls that need labels are refused until mcpg's replicas are restarted`);
      }
      throw new McpgError('STATE_UNAVAILABLE', `the shared state at ${this.where} cannot be reached (${what}: ${message}); calls that need labels are refused until it is back`);
    }
  }

  /** The first connection, still being made: waited for (a while); a store that was up and went down fails at once. */
  async #first(): Promise<void> {
    if (!['wait', 'connecting', 'connect'].includes(this.#redis.status)) return;
    await new Promise<void>((resolve) => {
      const done = () => (clearTimeout(timer), this.#redis.off('ready', done), resolve());
      const timer = setTimeout(done, COMMAND_MS);
      this.#redis.once('ready', done);
    });
  }

  /** The deployment's mark in the store: set by the first replica, read by the others. */
  #marked(): Promise<string> {
    this.#epoch ??= this.#run('marking the store', async () => {
      await this.#redis.set('epoch', randomUUID(), 'NX');
      const epoch = await this.#redis.get('epoch');
      if (!epoch) throw new Error('the mark was not kept');
      return epoch;
    });
    const epoch = this.#epoch;
    epoch.catch(() => {
      if (this.#epoch === epoch) this.#epoch = undefined;
    });
    return epoch;
  }

  async #labels(agent: string, initial: Labels, read: Labels | undefined): Promise<Labels> {
    const epoch = await this.#marked();
    const redis = this.#redis as Redis & { mcpgLabels(...args: string[]): Promise<string> };
    return parsed(await this.#run('labels', () => redis.mcpgLabels('epoch', `labels:${agent}`, epoch, JSON.stringify(initial), read ? JSON.stringify(read) : '')));
  }

  labels(agent: string, initial: Labels): Promise<Labels> {
    return this.#labels(agent, initial, undefined);
  }

  absorb(agent: string, initial: Labels, read: Labels): Promise<Labels> {
    return this.#labels(agent, initial, read);
  }

  async admit(agent: string, max: number, ttlMs: number): Promise<(() => void) | undefined> {
    const id = randomUUID();
    const redis = this.#redis as Redis & { mcpgAdmit(...args: (string | number)[]): Promise<number> };
    const admitted = await this.#run('calls in flight', () => redis.mcpgAdmit(`inflight:${agent}`, max, ttlMs, id));
    if (!admitted) return undefined;
    return () => void this.#redis.zrem(`inflight:${agent}`, id).catch(() => {});
  }

  async secret(name: string): Promise<Buffer> {
    return this.#run('secrets', async () => {
      await this.#redis.set(`secret:${name}`, randomBytes(32).toString('base64'), 'NX');
      const found = await this.#redis.get(`secret:${name}`);
      if (!found) throw new Error('the secret was not kept');
      return Buffer.from(found, 'base64');
    });
  }

  async rememberSession(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
    await this.#run('sessions', () => this.#redis.set(`session:${id}`, JSON.stringify(record), 'PX', ttlMs));
  }

  async session(id: string): Promise<SessionRecord | undefined> {
    const found = await this.#run('sessions', () => this.#redis.get(`session:${id}`));
    return found ? (JSON.parse(found) as SessionRecord) : undefined;
  }

  async forgetSession(id: string): Promise<void> {
    await this.#run('sessions', () => this.#redis.del(`session:${id}`));
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
