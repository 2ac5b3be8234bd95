// The single executable's entry. The gateway's bundle is a SEA asset, compiled here with the V8
// code cache made for it at build time (scripts/build-binary.mjs), so `mcpg --version` is
// answered before the bundle is read: as the SEA's main script, the bundle was compiled before
// anything ran (73 ms against 45 now, on the development machine). So is a `guard verify
// --offline` that passed before with nothing changed since (src/supply/verify-verdict.ts).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { getRawAsset } from 'node:sea';
import { appendedAssets } from './shared/appended.ts';
import { SERVING } from './shared/channels.ts';
import { compileBundle } from './shared/code-cache.ts';
import { answeredVersion } from './shared/version.ts';
import { answeredVerify } from './supply/verify-verdict.ts';

/**
 * Once a gateway serves (src/proxy/gateway.ts publishes it), V8 optimizes sooner: Maglev compiles
 * a function after 100 calls rather than 400, and 100 calls after its inline caches last changed
 * rather than 500. A gateway runs the same few functions for every call, and an agent's session
 * is often a few hundred calls long. Measured on the executable, 64 callers on a fresh `mcpg run`
 * (its first 6,400 calls after 200): CPU a call about 16 -> 13.5 µs, of which V8's compiler
 * threads 4.2 -> 2.6; after 13,000 calls, unchanged. Not before it serves: set as the bundle started,
 * start-up with 3 servers took 5-12 ms longer (more of it compiled while the servers boot), and
 * `guard verify` of 10 guards 7 ms. Not in the SEA's execArgv either: V8 takes a code cache only
 * under the flags it was made under, and it refused this entry's.
 */
const TIERING = ['--invocation-count-for-maglev=100', '--minimum-invocations-after-ic-update=100'];

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
  subscribe(SERVING, function tierSooner() {
    unsubscribe(SERVING, tierSooner);
    const { setFlagsFromString } = process.getBuiltinModule('node:v8');
    for (const flag of TIERING) setFlagsFromString(flag);
  });
  (script.runInThisContext() as (...args: unknown[]) => void)(exports, require, module, __filename, __dirname);
}
