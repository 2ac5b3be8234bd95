import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { logger } from '../shared/log.ts';

const log = logger('cache');
const STALE_LOCK_MS = 5 * 60_000;

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
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
  constructor(dir = defaultCacheDir()) {
    this.dir = dir;
  }

  #blobs(): string {
    const d = join(this.dir, 'sha256');
    mkdirSync(d, { recursive: true });
    return d;
  }

  get(digest: string): Uint8Array | undefined {
    const file = join(this.#blobs(), digest);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch {
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
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temp, bytes);
    renameSync(temp, file);
    return digest;
  }

  /**
   * Runs `work` holding a lock named by `key`, so that processes racing for the same download
   * do it once: the loser waits, then finds the entry in the cache.
   */
  async exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const lock = join(this.#blobs(), `${createHash('sha256').update(key).digest('hex')}.lock`);
    for (;;) {
      try {
        closeSync(openSync(lock, 'wx'));
        break;
      } catch {
        try {
          if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmSync(lock, { force: true });
        } catch {
          // The holder released it between our two looks.
        }
        await new Promise((r) => setTimeout(r, 50));
      }
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

  remove(digest: string): void {
    rmSync(join(this.#blobs(), digest), { force: true });
  }

  clean(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
