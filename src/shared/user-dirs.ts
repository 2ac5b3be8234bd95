import { linkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { McpgError, fsReason } from './errors.ts';
import { makeDirs, readOwnFile } from './files.ts';

/** mcpg's directory in the user's config dir (tokens, local keys): never a cache, never shared. */
export function configDir(): string {
  if (process.platform === 'darwin') return join(homedir(), 'Library/Application Support/mcpg');
  if (process.platform === 'win32') return join(process.env.APPDATA ?? homedir(), 'mcpg');
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mcpg');
}

/**
 * A 32-byte secret in `file` (0600, its dir 0700), made on first use. It is created whole (a
 * temp file linked into place), so a process racing its creation never reads it half written;
 * a racing creator's key wins. A key file of another size is damaged: it is replaced (what was
 * sealed under it is lost, and says so where it is read).
 */
export function keyFile(file: string): Buffer {
  const read = (): Buffer | undefined => {
    try {
      // A key seals what a run keeps; it is not one of the run's inputs (see witnessReads).
      return readOwnFile(file, 1024, { witnessed: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new McpgError('FILE_ACCESS', `cannot read ${file}: ${fsReason(err)}`);
    }
  };
  const existing = read();
  if (existing?.length === 32) return existing;
  const key = process.getBuiltinModule('node:crypto').randomBytes(32);
  const temp = `${file}.${process.pid}.${process.getBuiltinModule('node:crypto').randomBytes(4).toString('hex')}.tmp`;
  try {
    makeDirs(dirname(file), 0o700);
    writeFileSync(temp, key, { mode: 0o600 });
    if (existing) renameSync(temp, file);
    else linkSync(temp, file);
    return key;
  } catch (err) {
    const other = (err as NodeJS.ErrnoException).code === 'EEXIST' ? read() : undefined;
    if (other?.length === 32) return other;
    throw new McpgError('FILE_ACCESS', `cannot create ${file}: ${fsReason(err)}`);
  } finally {
    rmSync(temp, { force: true });
  }
}
