import { type JsonWebKey, createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { McpgError, errorMessage, fsReason } from '../shared/errors.ts';
import { makeDirs, readOwnFile, replaceFile, withFileLock } from '../shared/files.ts';
import { configDir, keyFile } from '../shared/user-dirs.ts';

/** A stored record that cannot be opened (damaged, or sealed under another key): one server's problem. */
export class DamagedRecord extends McpgError {}

/** What mcpg keeps for one server and resource between runs. */
export interface AuthRecord {
  server: string;
  url: string;
  client?: OAuthClientInformationMixed;
  tokens?: OAuthTokens;
  /** When the access token expires (ms since the epoch), from `expires_in` at save time. */
  expiresAt?: number;
  discovery?: OAuthDiscoveryState;
  /** The scope the server last asked for (a step-up): the next login requests it. */
  scope?: string;
  /** The private key DPoP-bound tokens are bound to (a JWK), where the authorization server binds them. */
  dpop?: JsonWebKey;
}

/**
 * Tokens at rest: one file per server and resource under the user's config dir, AES-256-GCM
 * with a key file beside them, every file 0600 and the dir 0700. The key keeps tokens out of
 * backups, search indexes and pasted directory listings; it is not a defence against the user's
 * own account. Never in the config, the lock, logs or audit lines.
 */
export class TokenStore {
  readonly dir: string;
  /** Read once: the provider opens the record on every request to its server. */
  #secret?: Buffer;
  /** Records read, by file, with the state of the file they were read from. */
  readonly #read = new Map<string, { seen: string; record: AuthRecord }>();
  /** Each server's file name (a hash), made once. */
  readonly #files = new Map<string, string>();

  constructor(dir = defaultDir()) {
    this.dir = dir;
  }

  /**
   * A server's record. The OAuth provider asks on every request to its server: a record read
   * before is given again while its file is unchanged (same inode, size and mtime), and a server
   * with no record costs a stat, not a failed open.
   */
  load(server: string, url: string): AuthRecord {
    const file = this.#file(server, url);
    let stat;
    try {
      stat = statSync(file, { throwIfNoEntry: false });
    } catch (err) {
      throw new McpgError('FILE_ACCESS', `cannot read the tokens of server "${server}" in ${this.dir}: ${fsReason(err)}`);
    }
    if (!stat) return { server, url };
    const seen = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    const cached = this.#read.get(file);
    if (cached?.seen === seen) return structuredClone(cached.record);
    const record = this.#loadFile(file, server, url);
    this.#read.set(file, { seen, record: structuredClone(record) });
    return record;
  }

  #loadFile(file: string, server: string, url: string): AuthRecord {
    let sealed: Buffer;
    try {
      sealed = readOwnFile(file, 1024 * 1024);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { server, url };
      throw new McpgError('FILE_ACCESS', `cannot read the tokens of server "${server}" in ${this.dir}: ${fsReason(err)}`);
    }
    try {
      const record = JSON.parse(this.#open(sealed).toString('utf8')) as AuthRecord;
      return record.server === server && record.url === url ? record : { server, url };
    } catch (err) {
      throw new DamagedRecord('FILE_ACCESS', `the tokens of server "${server}" in ${this.dir} cannot be read (${errorMessage(err)}): run \`mcpg auth logout ${server}\` and \`mcpg auth login ${server}\``);
    }
  }

  /** The record, or an empty one in place of a damaged one. */
  loadOrFresh(server: string, url: string): AuthRecord {
    try {
      return this.load(server, url);
    } catch (err) {
      if (err instanceof DamagedRecord) return { server, url };
      throw err;
    }
  }

  save(record: AuthRecord): void {
    this.#ensureDir();
    try {
      replaceFile(this.#file(record.server, record.url), this.#seal(Buffer.from(JSON.stringify(record))), 0o600);
    } catch (err) {
      throw new McpgError('FILE_ACCESS', `cannot store the tokens of server "${record.server}" in ${this.dir}: ${fsReason(err)}`);
    }
  }

  /** Reads, changes and writes a record; a damaged one is replaced (a login writes it afresh). */
  update(server: string, url: string, change: (r: AuthRecord) => void): AuthRecord {
    this.#ensureDir();
    try {
      // Two mcpg processes refreshing one server must not write over each other's tokens.
      return withFileLock(this.#file(server, url), () => {
        const record = this.loadOrFresh(server, url);
        change(record);
        this.save(record);
        return record;
      });
    } catch (err) {
      if (err instanceof McpgError) throw err;
      throw new McpgError('FILE_ACCESS', `cannot update the tokens of server "${server}" in ${this.dir}: ${fsReason(err)}`);
    }
  }

  /** Forgets a server's tokens and registration; whether there was anything to forget. */
  delete(server: string, url: string): boolean {
    const file = this.#file(server, url);
    if (!existsSync(file)) return false;
    rmSync(file, { force: true });
    return true;
  }

  /** Every record stored, for `mcpg auth status`. */
  all(): AuthRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.token'));
    } catch {
      return [];
    }
    return names.flatMap((n) => {
      try {
        return [JSON.parse(this.#open(readOwnFile(join(this.dir, n), 1024 * 1024)).toString('utf8')) as AuthRecord];
      } catch {
        return [];
      }
    });
  }

  #file(server: string, url: string): string {
    const name = `${server}\n${url}`;
    let file = this.#files.get(name);
    if (file === undefined) this.#files.set(name, (file = join(this.dir, `${createHash('sha256').update(name).digest('hex').slice(0, 32)}.token`)));
    return file;
  }

  #ensureDir(): void {
    try {
      makeDirs(this.dir, 0o700);
      chmodSync(this.dir, 0o700);
    } catch (err) {
      throw new McpgError('FILE_ACCESS', `cannot create ${this.dir} for tokens: ${fsReason(err)}`);
    }
  }

  #key(): Buffer {
    if (!this.#secret) {
      this.#ensureDir();
      this.#secret = keyFile(join(this.dir, 'key'));
    }
    return this.#secret;
  }

  #seal(plain: Buffer): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key(), iv);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([Buffer.from('mcpg1'), iv, cipher.getAuthTag(), body]);
  }

  #open(sealed: Buffer): Buffer {
    if (sealed.subarray(0, 5).toString() !== 'mcpg1') throw new Error('not an mcpg token file');
    const decipher = createDecipheriv('aes-256-gcm', this.#key(), sealed.subarray(5, 17));
    decipher.setAuthTag(sealed.subarray(17, 33));
    return Buffer.concat([decipher.update(sealed.subarray(33)), decipher.final()]);
  }
}

/** `MCPG_AUTH_DIR`, else `auth` in mcpg's config dir. */
function defaultDir(): string {
  return process.env.MCPG_AUTH_DIR || join(configDir(), 'auth');
}
