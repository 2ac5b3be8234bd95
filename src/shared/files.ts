import { type Stats, closeSync, constants, fstatSync, mkdirSync, openSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type ErrorCode, McpgError, fsReason } from './errors.ts';

/**
 * Writes `file` whole or not at all: a temp file beside it, renamed over it, so a reader (or a
 * crash) never sees half a file. The temp file never stays; the file-system error is thrown for
 * the caller to name in its own words.
 */
export function replaceFile(file: string, data: string | Uint8Array, mode?: number): void {
  // node:crypto loaded here, not with this module: src/sea.ts reads through it before `--version`.
  const temp = `${file}.${process.pid}.${process.getBuiltinModule('node:crypto').randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, data, mode === undefined ? undefined : { mode });
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/**
 * Makes `dir` and the directories above it that are missing (`mode` for each one made). Node's
 * own recursive mkdir never returns where mkdir answers ENOENT for a directory whose parent
 * exists (under /proc); this walk is bounded by the path, and throws what mkdir answered.
 */
export function makeDirs(dir: string, mode?: number): void {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      statSync(d);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
    } catch (err) {
      // Made meanwhile by another process: fine.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** How a size limit reads: 4 MiB, 1024 bytes. */
const sizeOf = (n: number) => (n >= 1024 * 1024 && n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`);

const kindOf = (s: Stats) => (s.isDirectory() ? 'a directory' : s.isFIFO() ? 'a FIFO' : s.isSocket() ? 'a socket' : s.isCharacterDevice() || s.isBlockDevice() ? 'a device' : 'something else');

/**
 * A file is not what it should be (a FIFO, a device, too large). The message says what it is,
 * not its name: the caller names the file.
 */
export class UnsafeFile extends Error {}

/**
 * Reads a file mcpg keeps (a cache entry, a key, tokens) as an attacker with write access to the
 * directory might have left it: a symbolic link is not followed, anything but a regular file (a
 * FIFO, a device such as /dev/zero) is refused without blocking, and at most `maxBytes` are
 * read. ENOENT and other file-system errors are thrown as they are; the rest as UnsafeFile.
 * `witnessed: false` leaves the read out of a witnessed run's reads (see witnessReads).
 */
export function readOwnFile(file: string, maxBytes: number, options: { witnessed?: boolean } = {}): Buffer {
  const read = { file, follow: false, maxBytes };
  return options.witnessed === false ? readAs(read) : witness(read);
}

/** A user's file (links followed) or mcpg's own (not), as readUserFile and readOwnFile read them. */
function readAs(read: Omit<Read, 'sha256'>): Buffer {
  return readRegular(read.follow ? realpathSync(read.file) : read.file, read.maxBytes);
}

function readRegular(file: string, maxBytes: number): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UnsafeFile(`it is ${kindOf(stat)}, not a regular file`);
    if (stat.size > maxBytes) throw new UnsafeFile(`it is larger than ${sizeOf(maxBytes)}`);
    // Not zeroed first: only the bytes read are returned.
    const buffer = Buffer.allocUnsafe(stat.size);
    return buffer.subarray(0, readFully(fd, buffer, 0));
  } finally {
    closeSync(fd);
  }
}

/** Fills `buffer` from the open file `fd` at `position`; how many bytes it read (fewer where the file ends). */
export function readFully(fd: number, buffer: Buffer, position: number): number {
  let read = 0;
  while (read < buffer.length) {
    const n = readSync(fd, buffer, read, buffer.length - read, position + read);
    if (n === 0) break;
    read += n;
  }
  return read;
}

/**
 * Reads a file a user named (a config, a lock, a guard, a bundle, a certificate) as readOwnFile
 * does, after following its links to the file itself: a link is fine where the user put it, but
 * a FIFO, a device such as /dev/zero, or a file larger than `maxBytes` is refused (UnsafeFile)
 * rather than read without end.
 */
export function readUserFile(file: string, maxBytes: number): Buffer {
  return witness({ file, follow: true, maxBytes });
}

/**
 * One file a run read, and what it found: the sha256 of its bytes, or null when it could not be
 * read (missing, refused). `follow`: read as a user's file (links followed) or as mcpg's own.
 */
export interface Read {
  file: string;
  follow: boolean;
  maxBytes: number;
  sha256: string | null;
}

/** The run being witnessed: what it read, and whether it reached beyond files (the network). */
let witnessing: { reads: Map<string, Read>; beyond: boolean } | undefined;

/**
 * Runs `work` noting every file it reads through this module, so that a verdict it reaches can
 * later be trusted while those files are as they were (src/supply/verify-verdict.ts). `reads` is
 * undefined when the work also rested on something that is not a file (readBeyondFiles).
 */
export async function witnessReads<T>(work: () => Promise<T>): Promise<{ value: T; reads?: Read[] }> {
  const run = { reads: new Map<string, Read>(), beyond: false };
  witnessing = run;
  try {
    const value = await work();
    return { value, ...(!run.beyond && { reads: [...run.reads.values()] }) };
  } finally {
    witnessing = undefined;
  }
}

/** Says that the witnessed run (if any) rests on more than files: what it concluded is not kept. */
export function readBeyondFiles(): void {
  if (witnessing) witnessing.beyond = true;
}

/** The same read again, and whether it finds what `read` found. */
export function readsTheSame(read: Read): boolean {
  let found: string | null;
  try {
    found = sha256Of(readAs(read));
  } catch {
    found = null;
  }
  return found === read.sha256;
}

/** node:crypto, loaded when first used: src/sea.ts reads through this module before `--version`. */
const sha256Of = (bytes: Uint8Array) => process.getBuiltinModule('node:crypto').hash('sha256', bytes);

/** The read, noted in the witnessed run (if any) with what it found. */
function witness(read: Omit<Read, 'sha256'>): Buffer {
  const run = witnessing;
  if (!run) return readAs(read);
  let bytes: Buffer | undefined;
  try {
    bytes = readAs(read);
    return bytes;
  } finally {
    const key = `${read.follow} ${read.file}`;
    const seen = { ...read, sha256: bytes ? sha256Of(bytes) : null };
    const first = run.reads.get(key);
    // A file that changed while the run read it: what the run concluded rests on no one state of it.
    if (first && first.sha256 !== seen.sha256) run.beyond = true;
    if (!first) run.reads.set(key, seen);
  }
}

/**
 * readUserFile for a file a command line names: a failure is the user error `code`, naming the
 * file (after `what`, the flag or role it was given as, when there is one) and the reason.
 */
export function readNamedFile(file: string, maxBytes: number, code: ErrorCode, what?: string): Buffer {
  try {
    return readUserFile(file, maxBytes);
  } catch (err) {
    throw new McpgError(code, `${what ? `${what} ` : ''}${file}: ${fsReason(err)}`);
  }
}

/**
 * Opens a file mcpg appends to (the audit log, --log-file): created 0600, a symbolic link not
 * followed, a FIFO or socket refused instead of blocking on it (a character device such as
 * /dev/null is taken). Errors are thrown for the caller to name in its own words.
 */
export function openAppendOnly(file: string): number {
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() && !stat.isCharacterDevice()) throw new UnsafeFile(`it is ${kindOf(stat)}, not a regular file`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** How long a writer waits for another's lock on a small file before it gives up. */
const LOCK_WAIT_MS = 5_000;

/**
 * Runs `work` holding `${file}.lock`, for read-change-write updates of small files that several
 * mcpg processes share (tokens). The lock names its pid: one whose process is gone, or that is
 * older than the wait, is taken over. Synchronous: such updates are a few milliseconds.
 */
export function withFileLock<T>(file: string, work: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (stale(lock)) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new UnsafeFile(`${lock} has been held by another mcpg for over ${LOCK_WAIT_MS / 1000}s; if none runs, remove it`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  try {
    return work();
  } finally {
    rmSync(lock, { force: true });
  }
}

function stale(lock: string): boolean {
  try {
    const pid = Number(readOwnFile(lock, 64).toString('utf8'));
    if (Date.now() - statSync(lock).mtimeMs > LOCK_WAIT_MS) return true;
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // ESRCH: its owner is gone. ENOENT: released meanwhile (try again). EPERM: someone else's, alive.
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ESRCH';
  }
}
