// Builds the single executable dist/mcpg: the esbuild bundle injected into this machine's
// Node 24 (the node@24 dev dependency) with pkg's SEA support, given the Node binary itself so
// that nothing is downloaded. pkg reports some failures softly, so the result is checked by
// running it with an empty PATH.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

process.env.npm_config_yes = 'true'; // pkg runs postject through npx
const seaModule = await import('@yao-pkg/pkg/lib-es5/sea.js');
const sea = seaModule.default.default ?? seaModule.default; // a CommonJS module: exports.default
try {
  await sea(entry, {
    targets: [{ nodeRange: `node${process.versions.node.split('.')[0]}`, platform, arch: process.arch, output }],
    nodePath,
    // V8's compiled code for the bundle goes into the blob: start-up skips parsing 3 MB of JS.
    // A small young generation (2 MiB semi-spaces): the gateway's garbage is short-lived request
    // objects; under 64 concurrent callers this measured 20 MiB less peak RSS and no slower.
    seaConfig: { useCodeCache: true, execArgv: ['--max-semi-space-size=2'] },
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (!existsSync(output)) throw new Error(`pkg did not produce ${output}`);
chmodSync(output, 0o755);

const version = execFileSync(output, ['--version'], { env: { PATH: '' }, encoding: 'utf8' }).trim();
console.log(`${output.slice(root.length + 1)} ${version}: ${(statSync(output).size / 1048576).toFixed(1)} MiB (node ${process.version}, ${platform}-${process.arch}${nodePath === process.execPath ? '' : ', stripped'})`);
