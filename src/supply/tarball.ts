import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { McpgError } from '../shared/errors.ts';

/** What a guard package (`.tar.gz`) holds: the module and its manifest. */
export interface GuardPackage {
  wasm: Uint8Array;
  manifest: { name: string; version: string; abi: string; description?: string };
}

const MAX_ENTRY = 64 * 1024 * 1024;
const MAX_UNPACKED = 128 * 1024 * 1024;

/**
 * Reads `guard.wasm` and `guard.json` from a guard package. Refuses entries outside the package
 * root, links and devices, a name given twice, and sizes over the cap; other regular files are
 * ignored.
 */
export async function readGuardPackage(bytes: Uint8Array, source: string): Promise<GuardPackage> {
  const fail = (why: string) => new McpgError('SUPPLY_FETCH', `${source}: bad guard package: ${why}`);
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: MAX_UNPACKED });
  } catch (err) {
    throw fail(`not gzip, or larger than ${MAX_UNPACKED} bytes unpacked (${(err as Error).message})`);
  }
  const files = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.\//, '');
      const parts = name.split('/');
      if (name.startsWith('/') || parts.includes('..') || /^[A-Za-z]:/.test(name)) {
        reject(fail(`entry "${header.name}" points outside the package`));
        return;
      }
      if (header.type !== 'file' && header.type !== 'directory') {
        reject(fail(`entry "${header.name}" is a ${header.type}; only regular files are allowed`));
        return;
      }
      if ((header.size ?? 0) > MAX_ENTRY) {
        reject(fail(`entry "${header.name}" is ${header.size} bytes, over the ${MAX_ENTRY}-byte cap`));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        // Two entries of one name: which one a reader takes differs between tools; neither is.
        if (header.type === 'file' && files.has(name)) return reject(fail(`it holds "${name}" twice`));
        if (header.type === 'file') files.set(name, Buffer.concat(chunks));
        next();
      });
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', (e) => reject(fail(e.message)));
  });
  Readable.from([tar]).pipe(ex);
  await done;
  const wasm = files.get('guard.wasm');
  const json = files.get('guard.json');
  if (!wasm || !json) throw fail('it must hold guard.wasm and guard.json at its root');
  let manifest: GuardPackage['manifest'];
  try {
    manifest = JSON.parse(json.toString('utf8')) as GuardPackage['manifest'];
  } catch {
    throw fail('guard.json is not JSON');
  }
  if (typeof manifest.name !== 'string' || typeof manifest.version !== 'string' || typeof manifest.abi !== 'string') {
    throw fail('guard.json needs string fields name, version and abi');
  }
  return { wasm: new Uint8Array(wasm), manifest };
}
