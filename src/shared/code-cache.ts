import { Script } from 'node:vm';

/**
 * V8's code cache for the bundle in the single executable, sealed to the build that made it.
 * V8 checks a cache only against its own version, its flags and the source's length: a cache
 * made for another bundle of the same length is taken, and runs that bundle's code, and
 * damaged bytes are not noticed. So the build marks the bundle with an id of its own and seals
 * the cache with that id and the cache's sha256; a cache is used only when both hold, and
 * otherwise the bundle is compiled from its source (slower to start, never stale).
 */

const MAGIC = 'mcpg-code-cache/1';
/**
 * node:crypto, loaded when a cache is sealed or checked: src/sea.ts imports this module before
 * it answers `--version`, which should not pay for crypto's start (about 2 ms).
 */
const sha256 = (data: Uint8Array) => process.getBuiltinModule('node:crypto').hash('sha256', data);
/** How the build marks the bundle: its first bytes, before the code. */
const MARK = /^\/\*mcpg-build ([0-9a-f]{32})\*\//;

/** The id of the build in this single executable (the one its bundle is marked with); undefined outside one. */
export function seaBuildId(): string | undefined {
  const sea = process.getBuiltinModule('node:sea');
  if (!sea.isSea()) return undefined;
  return MARK.exec(Buffer.from(sea.getRawAsset('mcpg.js'), 0, 64).toString('latin1'))?.[1];
}

/** The bundle as the build wraps it, marked with its build's id. */
export function markBundle(id: string, code: string): string {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new Error(`a build id is 32 hex digits, not ${JSON.stringify(id)}`);
  return `/*mcpg-build ${id}*/${code}`;
}

/** The cache V8 made for a marked bundle, sealed to that bundle's build. */
export function sealCache(bundle: string, cache: Uint8Array): Buffer {
  const id = MARK.exec(bundle)?.[1];
  if (!id) throw new Error('the bundle carries no build id (markBundle)');
  return Buffer.concat([Buffer.from(`${MAGIC} ${id} ${sha256(cache)}\n`), cache]);
}

/**
 * The marked bundle compiled with its sealed cache when the cache is the one made for it (and
 * V8 takes it); `problem` says why the cache was not used.
 */
export function compileBundle(bundle: string, sealed: Uint8Array, filename: string): { script: Script; problem?: string } {
  const found = unsealed(bundle, Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength));
  if (typeof found === 'string') return { script: new Script(bundle, { filename }), problem: found };
  const script = new Script(bundle, { filename, cachedData: found });
  return script.cachedDataRejected ? { script, problem: 'V8 refused it: it was made by another Node.js or under other flags' } : { script };
}

function unsealed(bundle: string, sealed: Buffer): Buffer | string {
  const end = sealed.indexOf(0x0a);
  const [magic, id, digest] = sealed.subarray(0, end < 0 ? 0 : Math.min(end, 200)).toString('latin1').split(' ');
  if (end < 0 || magic !== MAGIC) return 'it is not a sealed mcpg code cache';
  if (id !== MARK.exec(bundle)?.[1]) return 'it was made for another build of the bundle';
  const cache = sealed.subarray(end + 1);
  if (digest !== sha256(cache)) return 'its bytes are not those sealed (damaged)';
  return cache;
}
