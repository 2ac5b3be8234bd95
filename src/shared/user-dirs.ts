import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { McpgError, fsReason } from './errors.ts';

/** mcpg's directory in the user's config dir (tokens, local keys): never a cache, never shared. */
export function configDir(): string {
  if (process.platform === 'darwin') return join(homedir(), 'Library/Application Support/mcpg');
  if (process.platform === 'win32') return join(process.env.APPDATA ?? homedir(), 'mcpg');
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mcpg');
}

/** A 32-byte secret in `file` (0600, its dir 0700), made on first use; a racing writer's key wins. */
export function keyFile(file: string): Buffer {
  try {
    const key = readFileSync(file);
    if (key.length === 32) return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new McpgError('FILE_ACCESS', `cannot read ${file}: ${fsReason(err)}`);
  }
  const key = randomBytes(32);
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file);
    throw new McpgError('FILE_ACCESS', `cannot create ${file}: ${fsReason(err)}`);
  }
}
