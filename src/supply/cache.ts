import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { McpgError, errorMessage, fsFault, fsReason } from '../shared/errors.ts';
import { UnsafeFile, makeDirs, readOwnFile, replaceFile } from '../shared/files.ts';
import { logger } from '../shared/log.ts';
import { configDir, keyFile } from '../shared/user-dirs.ts';

const log = logger('cache');
/**
 * node:crypto, loaded when first used: src/sea.ts reads a kept verdict through this module
 * before it decides whether to load the gateway, and `mcpg --version` should not pay for it.
 */
const crypto = () => process.getBuiltinModule('node:crypto');
/** How long to wait for another live process's download before saying so and giving up. */
const LOCK_WAIT_MS = 120_000;
/** The largest cache entry mcpg reads: a guard module, or a metered one, is far smaller. */
const MAX_BLOB = 256 * 1024 * 1024;

/** Who holds a download lock: enough to tell whether it still runs. */
interface LockOwner {
  pid: number;
  host: string;
}

/** A process on this host that still runs (a zombie does not: it only waits to be reaped). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

export function sha256(bytes: Uint8Array): string {
  return crypto().createHash('sha256').update(bytes).digest('hex');
}

export function defaultCacheDir(): string {
  if (process.env.MCPG_CACHE_DIR) return process.env.MCPG_CACHE_DIR;
  if (process.platform === 'darwin') return join(homedir(), 'Library/Caches/mcpg');
  if (process.platform === 'win32') return join(process.env.LOCALAPPDATA ?? homedir(), 'mcpg', 'Cache');
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mcpg');
}

export interface Entry {
  sha256: string;
  size: number;
  modified: Date;
}

/**
 * Content-addressed store: `<dir>/sha256/<hex>`. Writes are atomic (temp file + rename), every
 * read is re-hashed, and a corrupt entry is deleted as if it were missing.
 */
export class Cache {
  readonly dir: string;
  /** The sealing key, once read (null: there is none to be had). */
  #secret?: Buffer | null;
  constructor(dir = defaultCacheDir()) {
    this.dir = dir;
  }

  #blobs(): string {
    const d = join(this.dir, 'sha256');
    try {
      makeDirs(d);
    } catch (err) {
      throw this.#unusable(err);
    }
    return d;
  }

  #unusable(err: unknown): McpgError {
    return new McpgError('FILE_ACCESS', `the guard cache ${this.dir} cannot be used: ${fsReason(err)} (set MCPG_CACHE_DIR to a writable directory)`);
  }

  get(digest: string): Uint8Array | undefined {
    const file = join(this.#blobs(), digest);
    let bytes: Uint8Array;
    try {
      bytes = readOwnFile(file, MAX_BLOB);
    } catch (err) {
      // A link, a FIFO, a device or a huge file is no entry: discarded, fetched again.
      if (err instanceof UnsafeFile || fsFault(err) === 'ELOOP') {
        log.warn(`${file}: ${err instanceof UnsafeFile ? err.message : 'it is a symbolic link'}; discarded`);
        rmSync(file, { force: true });
      }
      return undefined;
    }
    if (sha256(bytes) !== digest) {
      log.warn(`${file} does not match its digest: discarded`);
      rmSync(file, { force: true });
      return undefined;
    }
    return bytes;
  }

  put(bytes: Uint8Array): string {
    const digest = sha256(bytes);
    const file = join(this.#blobs(), digest);
    try {
      replaceFile(file, bytes);
    } catch (err) {
      throw this.#unusable(err);
    }
    return digest;
  }

  /**
   * Bytes derived from verified content (a guard's metered module), kept so the work is done
   * once. Unlike a blob, a derived entry cannot be checked against guards.lock, so each carries
   * an HMAC under a key kept outside the cache (in mcpg's config dir): an entry this machine did
   * not write (a cache restored in CI, a copied home) is not trusted but made again.
   */
  derived(key: string, make: () => Uint8Array): Uint8Array {
    return this.kept(key) ?? this.keep(key, make());
  }

  /** A derived entry this machine wrote under `key`, if there is one (one it did not write is not trusted). */
  kept(key: string): Uint8Array | undefined {
    const secret = this.#derivedKey();
    if (!secret) return undefined;
    const file = this.#derivedFile(key);
    try {
      // Derived from what the run reads anyway: not one of its inputs (see witnessReads).
      const stored = readOwnFile(file, MAX_BLOB, { witnessed: false });
      const body = stored.subarray(32);
      if (stored.length > 32 && crypto().timingSafeEqual(stored.subarray(0, 32), derivedTag(secret, key, body))) return body;
      log.warn(`${file} was not written by this machine's mcpg: made again`);
    } catch {
      // Not there yet.
    }
    return undefined;
  }

  /** Keeps a derived entry under `key` (sealed); returns its bytes. */
  keep(key: string, bytes: Uint8Array): Uint8Array {
    const secret = this.#derivedKey();
    if (!secret) return bytes;
    const file = this.#derivedFile(key);
    try {
      makeDirs(join(this.dir, 'derived'));
      replaceFile(file, Buffer.concat([derivedTag(secret, key, bytes), bytes]));
    } catch (err) {
      // A cache that cannot keep it costs time, not correctness.
      log.warn(`cannot keep ${file}: ${fsReason(err)}`);
    }
    return bytes;
  }

  #derivedFile(key: string): string {
    return join(this.dir, 'derived', crypto().createHash('sha256').update(key).digest('hex'));
  }

  /** The key derived entries are sealed with (mcpg's config dir), read once; without one, nothing is kept. */
  #derivedKey(): Buffer | undefined {
    if (this.#secret === undefined) {
      try {
        this.#secret = keyFile(join(configDir(), 'cache.key'));
      } catch (err) {
        log.warn(`${errorMessage(err)}: derived entries (metered guard modules, verdicts) are not kept`);
        this.#secret = null;
      }
    }
    return this.#secret ?? undefined;
  }

  /**
   * Runs `work` holding a lock named by `key`, so that processes racing for the same download
   * do it once: the loser waits, then finds the entry in the cache. The lock file names its
   * owner; a lock whose owner no longer runs (killed mid-download) is taken over at once, and a
   * live owner is waited for with a message, up to a bound.
   */
  async exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const lock = join(this.#blobs(), `${crypto().createHash('sha256').update(key).digest('hex')}.lock`);
    const me: LockOwner = { pid: process.pid, host: hostname() };
    const started = Date.now();
    let told = false;
    for (;;) {
      try {
        writeFileSync(lock, JSON.stringify(me), { flag: 'wx' });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw this.#unusable(err);
      }
      const owner = readOwner(lock);
      // An owner that no longer runs, or a lock that never named one (written by an older mcpg).
      if (owner ? owner.host === me.host && !running(owner.pid) : ageMs(lock) > 5_000) {
        log.info(`taking over ${lock}: its owner${owner ? ` (pid ${owner.pid})` : ''} is gone`);
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw new McpgError(
          'SUPPLY_FETCH',
          `another mcpg (${owner ? `pid ${owner.pid} on ${owner.host}` : 'unknown owner'}) has been downloading into the cache for over ${LOCK_WAIT_MS / 1000}s; if it is stuck, stop it or remove ${lock}`,
        );
      }
      if (!told) {
        log.warn(`waiting for another mcpg (${owner ? `pid ${owner.pid}` : 'starting'}) that is downloading the same guard (${lock})`);
        told = true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      return await work();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  list(): Entry[] {
    return readdirSync(this.#blobs())
      .filter((f) => /^[0-9a-f]{64}$/.test(f))
      .map((f) => {
        const s = statSync(join(this.#blobs(), f));
        return { sha256: f, size: s.size, modified: s.mtime };
      });
  }

  /** Drops every derived entry (they are made again when next used); how many there were. */
  dropDerived(): number {
    const dir = join(this.dir, 'derived');
    let count = 0;
    try {
      count = readdirSync(dir).length;
    } catch {
      return 0;
    }
    rmSync(dir, { recursive: true, force: true });
    return count;
  }

  remove(digest: string): void {
    rmSync(join(this.#blobs(), digest), { force: true });
  }

  clean(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The owner a lock file names; undefined while it is being written, or if it is not ours to read. */
function readOwner(file: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readOwnFile(file, 4096).toString('utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? { pid: o.pid, host: o.host } : undefined;
  } catch {
    return undefined;
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function derivedTag(secret: Buffer, key: string, body: Uint8Array): Buffer {
  return crypto().createHmac('sha256', secret).update(key).update(body).digest();
}
