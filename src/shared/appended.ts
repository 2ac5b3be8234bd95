import { closeSync, fstatSync, openSync } from 'node:fs';
import { readFully } from './files.ts';

/**
 * Where the single executable's assets (the bundle, its code cache) lie in the executable's own
 * file, written after it by the build (on Linux, whose loader ignores bytes after the image).
 * Read from there with read(2), their pages are not mapped into the process, so they are not
 * part of its RSS for as long as it runs (read through node:sea, their 4.5 MB were). A
 * trailer that is missing or does not fit is no error: the assets are read through node:sea.
 */

const MAGIC = 'mcpg-assets/1 ';
const TRAILER = 256;

/** The trailer the build appends: where each asset lies in `executable`, found by its bytes. */
export function assetTrailer(executable: Buffer, assets: Record<string, Buffer>): Buffer {
  const where: Record<string, [number, number]> = {};
  for (const [key, bytes] of Object.entries(assets)) {
    const head = bytes.subarray(0, 256);
    const at = executable.indexOf(head);
    if (at < 0 || !executable.subarray(at, at + bytes.length).equals(bytes)) throw new Error(`asset ${key} is not in the executable as it was given`);
    if (executable.indexOf(head, at + 1) >= 0) throw new Error(`asset ${key} begins twice in the executable`);
    where[key] = [at, bytes.length];
  }
  const text = `${MAGIC}${JSON.stringify(where)}`;
  if (text.length > TRAILER) throw new Error('the asset trailer is too long');
  return Buffer.from(text.padEnd(TRAILER, ' '), 'latin1');
}

/** What an asset should be: node:sea's length and first bytes of it. */
export interface Expected {
  length: number;
  starts: Buffer;
}

/** The assets, read from `file` where its trailer says, when each has the length and the first bytes expected; otherwise undefined. */
export function appendedAssets(file: string, expected: Record<string, Expected>): Map<string, Buffer> | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < TRAILER) return undefined;
    const tail = Buffer.alloc(TRAILER);
    if (readFully(fd, tail, size - TRAILER) !== TRAILER) return undefined;
    const text = tail.toString('latin1');
    if (!text.startsWith(MAGIC)) return undefined;
    let where: Record<string, unknown>;
    try {
      where = JSON.parse(text.slice(MAGIC.length)) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const found = new Map<string, Buffer>();
    for (const [key, { length, starts }] of Object.entries(expected)) {
      const at = where[key];
      if (!Array.isArray(at) || at[1] !== length || !Number.isSafeInteger(at[0]) || at[0] < 0 || at[0] + length > size - TRAILER) return undefined;
      const bytes = Buffer.allocUnsafe(length);
      if (readFully(fd, bytes, at[0] as number) !== length || !bytes.subarray(0, starts.length).equals(starts)) return undefined;
      found.set(key, bytes);
    }
    return found;
  } finally {
    closeSync(fd);
  }
}
