// Builds the single executable dist/mcpg: this machine's Node 24 (the node@24 dev dependency)
// with pkg's SEA support, given the Node binary itself so that nothing is downloaded. Its entry is
// the small src/sea.ts; the esbuild bundle and a V8 code cache for it, made by that same Node,
// are SEA assets (see src/sea.ts). pkg reports some failures softly, so the result is checked by
// running it with an empty PATH.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';
import { appendedAssets, assetTrailer } from '../src/shared/appended.ts';
import { markBundle, sealCache } from '../src/shared/code-cache.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/mcpg.cjs');
const platform = { darwin: 'macos', win32: 'win' }[process.platform] ?? process.platform;
const output = join(root, process.platform === 'win32' ? 'dist/mcpg.exe' : 'dist/mcpg');

execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
rmSync(output, { force: true });

// Symbols are safe to strip from Node before the blob goes in (after, the binary breaks).
const work = mkdtempSync(join(tmpdir(), 'mcpg-sea-'));
let nodePath = join(work, 'node');
copyFileSync(process.execPath, nodePath);
try {
  execFileSync('strip', ['--strip-unneeded', nodePath], { stdio: 'ignore' });
  execFileSync(nodePath, ['--version']);
} catch {
  nodePath = process.execPath;
}

// A small young generation (2 MiB semi-spaces): the gateway's garbage is short-lived request
// objects; under 64 concurrent callers this measured 20 MiB less peak RSS and no slower (1, 3
// and 4 MiB were slower and larger). Each of those small scavenges is done on the main thread
// alone: waking V8's helper threads for it cost more than it saved (no parallel scavenge
// measured 5-15% more calls a second under 64 callers, sequential p50 10-30 µs lower, and peak
// RSS the same without a guard and 10 MiB lower with one).
const execArgv = ['--max-semi-space-size=2', '--no-parallel-scavenge'];

// The entry, and the bundle as a function of CommonJS's five arguments (src/sea.ts runs it).
const seaEntry = join(work, 'entry.cjs');
await build({ entryPoints: [join(root, 'src/sea.ts')], outfile: seaEntry, bundle: true, platform: 'node', target: 'node24', format: 'cjs', logLevel: 'warning' });
// Without comments and indentation (names stay, for traces): a smaller string in the heap, and
// plain ASCII (esbuild escapes the rest), which src/sea.ts reads as one byte a character.
const { code: bundle } = await transform(readFileSync(entry, 'utf8').replace(/^#!.*\n/, ''), { loader: 'js', minifyWhitespace: true, legalComments: 'none' });
if (/[^\x00-\x7f]/.test(bundle)) throw new Error('the bundle is not plain ASCII: src/sea.ts would misread it');
// Marked with an id of its own (from its digest), which seals the code cache below to it (src/shared/code-cache.ts).
const wrapped = join(work, 'mcpg.js');
const code = `(function (exports, require, module, __filename, __dirname) {${bundle}\n})`;
const marked = markBundle(createHash('sha256').update(code).digest('hex').slice(0, 32), code);
writeFileSync(wrapped, marked);
// V8's compiled code for the bundle, made by the Node that runs it, under the same flags (V8
// refuses a cache made under others), after the bundle ran `guard verify` and a `run` session on
// an echo server (scripts/train-code-cache.mjs): start-up skips parsing 3 MB of JS, and those
// commands skip compiling most of what they run.
const cache = join(work, 'mcpg.cache');
const echo = join(root, 'scripts/bench/echo-server.mjs');
const trainConfig = join(work, 'train.json');
const rv = join(root, 'dist/guards/repo-visibility.wasm');
writeFileSync(
  trainConfig,
  JSON.stringify({
    mcpServers: { echo: { command: process.execPath, args: [echo], guard: existsSync(rv) ? 'rv' : 'sink' } },
    guards: { sink: { builtin: 'write-sink', policy: { accept: [] } }, ...(existsSync(rv) && { rv: { path: rv, policy: { 'allow-only': { repos: 'public', 'min-integrity': 'none' } } } }) },
  }),
);
const rpc = (id, method, params) => `${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`;
const session = [
  rpc(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'train', version: '1' } }),
  '{"jsonrpc":"2.0","method":"notifications/initialized"}\n',
  rpc(2, 'tools/list', {}),
  ...Array.from({ length: 20 }, (_, i) => rpc(3 + i, 'tools/call', { name: 'echo___get_echo', arguments: { message: 'x' } })),
].join('');
const workloads = [
  { argv: ['guard', 'verify', '--frozen', '--offline', '--config', join(root, 'examples/mcpg.toml')] },
  { argv: ['run', '--config', trainConfig, '--log-level', 'error'], input: session },
];
try {
  execFileSync(nodePath, [...execArgv, join(root, 'scripts/train-code-cache.mjs'), wrapped, cache, JSON.stringify(workloads)], {
    env: { ...process.env, MCPG_CACHE_DIR: join(work, 'cache'), XDG_CONFIG_HOME: join(work, 'config') },
    stdio: 'ignore',
    // It takes a few seconds; one that hangs fails the build instead of holding it.
    timeout: 120_000,
  });
} catch (err) {
  throw new Error(`training the code cache (scripts/train-code-cache.mjs) failed: ${err.signal ? `stopped with ${err.signal} after 120 s` : `exit ${err.status}`}`);
}
if (!existsSync(cache)) throw new Error('no code cache was made (scripts/train-code-cache.mjs)');
const assets = { 'mcpg.js': Buffer.from(marked, 'latin1'), 'mcpg.cache': sealCache(marked, readFileSync(cache)) };
writeFileSync(cache, assets['mcpg.cache']);

process.env.npm_config_yes = 'true'; // pkg runs postject through npx
const seaModule = await import('@yao-pkg/pkg/lib-es5/sea.js');
const sea = seaModule.default.default ?? seaModule.default; // a CommonJS module: exports.default
try {
  await sea(seaEntry, {
    targets: [{ nodeRange: `node${process.versions.node.split('.')[0]}`, platform, arch: process.arch, output }],
    nodePath,
    seaConfig: { useCodeCache: true, execArgv, assets: { 'mcpg.js': wrapped, 'mcpg.cache': cache } },
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (!existsSync(output)) throw new Error(`pkg did not produce ${output}`);
chmodSync(output, 0o755);
// Where the assets lie in the executable, after it (src/shared/appended.ts): read from there,
// their 4.5 MB are not mapped into the process. Linux only: its loader ignores bytes after the
// image, where a signature on macOS or Windows would break. Read back the way src/sea.ts will.
if (process.platform === 'linux') {
  appendFileSync(output, assetTrailer(readFileSync(output), assets));
  const read = appendedAssets(output, Object.fromEntries(Object.entries(assets).map(([k, b]) => [k, { length: b.length, starts: b.subarray(0, 64) }])));
  if (!read || Object.entries(assets).some(([k, b]) => !b.equals(/** @type {Buffer} */ (read.get(k))))) throw new Error('the assets appended to the executable do not read back');
}

const version = execFileSync(output, ['--version'], { env: { PATH: '' }, encoding: 'utf8' }).trim();
console.log(`${output.slice(root.length + 1)} ${version}: ${(statSync(output).size / 1048576).toFixed(1)} MiB (node ${process.version}, ${platform}-${process.arch}${nodePath === process.execPath ? '' : ', stripped'})`);
