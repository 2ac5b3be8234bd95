// The single executable's entry. The gateway's bundle is a SEA asset, compiled here with the V8
// code cache made for it at build time (scripts/build-binary.mjs), so `mcpg --version` is
// answered before the bundle is read: as the SEA's main script, the bundle was compiled before
// anything ran (73 ms against 45 now, on the development machine).
import { getRawAsset } from 'node:sea';
import { Script } from 'node:vm';
import { answeredVersion } from './shared/version.ts';

if (!answeredVersion(process.argv.slice(2))) {
  // The bundle as scripts/build-binary.mjs wrapped it: a function of CommonJS's five arguments,
  // in plain ASCII (the build checks), so read as one byte a character into a compact string.
  const script = new Script(Buffer.from(getRawAsset('mcpg.js')).toString('latin1'), { filename: 'mcpg.cjs', cachedData: new Uint8Array(getRawAsset('mcpg.cache')) });
  // A rejected cache only makes start-up slower; it means the build ran on another Node.
  if (script.cachedDataRejected) process.stderr.write('mcpg: warning: the code cache in this executable does not fit its Node.js; start-up is slower\n');
  (script.runInThisContext() as (...args: unknown[]) => void)(exports, require, module, __filename, __dirname);
}
