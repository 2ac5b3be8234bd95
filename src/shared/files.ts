import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Writes `file` whole or not at all: a temp file beside it, renamed over it, so a reader (or a
 * crash) never sees half a file. The temp file never stays; the file-system error is thrown for
 * the caller to name in its own words.
 */
export function replaceFile(file: string, data: string | Uint8Array, mode?: number): void {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, data, mode === undefined ? undefined : { mode });
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
