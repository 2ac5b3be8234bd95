// The single executable's entry. The gateway's bundle is a SEA asset, compiled here with the V8
// code cache made for it at build time (scripts/build-binary.mjs), so `mcpg --version` is
// answered before the bundle is read: as the SEA's main script, the bundle was compiled before
// anything ran (73 ms against 45 now, on the development machine). So is a `guard verify
// --offline` that passed before with nothing changed since (src/supply/verify-verdict.ts).
import { getRawAsset } from 'node:sea';
import { appendedAssets } from './shared/appended.ts';
import { compileBundle } from './shared/code-cache.ts';
import { answeredVersion } from './shared/version.ts';
import { answeredVerify } from './supply/verify-verdict.ts';

if (!answeredVersion(process.argv.slice(2)) && !answeredVerify(process.argv.slice(2))) {
  const js = getRawAsset('mcpg.js');
  const cache = getRawAsset('mcpg.cache');
  // The same bytes from the file itself where the build appended where they lie (Linux): read,
  // not mapped, they leave no pages in the process. Their first bytes are checked against
  // node:sea's (a page of each).
  const copies = appendedAssets(process.execPath, {
    'mcpg.js': { length: js.byteLength, starts: Buffer.from(js, 0, 64) },
    'mcpg.cache': { length: cache.byteLength, starts: Buffer.from(cache, 0, 64) },
  });
  // The bundle as scripts/build-binary.mjs wrapped it: a function of CommonJS's five arguments,
  // in plain ASCII (the build checks), so read as one byte a character into a compact string.
  const bundle = (copies?.get('mcpg.js') ?? Buffer.from(js)).toString('latin1');
  const { script, problem } = compileBundle(bundle, copies?.get('mcpg.cache') ?? new Uint8Array(cache), 'mcpg.cjs');
  // A cache not used only makes start-up slower; it means a broken build.
  if (problem) process.stderr.write(`mcpg: warning: the code cache in this executable is not used (${problem}); start-up is slower\n`);
  (script.runInThisContext() as (...args: unknown[]) => void)(exports, require, module, __filename, __dirname);
}
