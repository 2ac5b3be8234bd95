// Go >= 1.24 for Go guards (//go:wasmexport), without changing the system: Debian's next release
// ships golang-1.24-go, statically linked, unpacked under .cache/go (scripts/debian.mjs).
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchDebian } from './debian.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const base = join(root, '.cache/go');
const SUITE = 'trixie';
const PACKAGES = ['golang-1.24-go', 'golang-1.24-src'];
export const GOROOT = join(base, 'root/usr/lib/go-1.24');

function goToolchain() {
  const go = join(GOROOT, 'bin/go');
  if (existsSync(go)) return go;
  fetchDebian({ base, suite: SUITE, packages: PACKAGES, what: 'Go 1.24' });
  if (!existsSync(go)) throw new Error(`${go} missing after unpacking ${PACKAGES.join(', ')}`);
  return go;
}

/**
 * Runs the go command in `dir` with this toolchain only; for wasip1 unless `native`. Offline
 * unless `proxy` names a module proxy: then modules are fetched into a fresh module cache and
 * checked against go.sum (no checksum database). Resolves to its stdout; rejects with its
 * stderr in the message. Not blocking: the proxy may be served by this process.
 */
export function runGo(dir, args, { native = false, proxy } = {}) {
  const go = goToolchain();
  const modcache = proxy ? mkdtempSync(join(tmpdir(), 'mcpg-gomod-')) : undefined;
  return new Promise((resolvePromise, reject) => {
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? base,
      GOROOT,
      GOTOOLCHAIN: 'local',
      GOPROXY: proxy ?? 'off',
      GOFLAGS: '-mod=mod -modcacherw',
      ...(modcache ? { GOSUMDB: 'off', GOMODCACHE: modcache } : {}),
      GOWORK: 'off',
      GOCACHE: join(base, 'build-cache'),
      GOPATH: join(base, 'path'),
      CGO_ENABLED: '0',
      ...(native ? {} : { GOOS: 'wasip1', GOARCH: 'wasm' }),
    };
    execFile(go, args, { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      // -modcacherw: the fresh module cache can be removed like any folder.
      if (modcache) rmSync(modcache, { recursive: true, force: true });
      if (err) reject(new Error(`go ${args.join(' ')} in ${dir} failed: ${stderr.trim() || err.message}`));
      else resolvePromise(stdout);
    });
  });
}

/**
 * Builds a Go guard (a reactor: -buildmode=c-shared for wasip1) into `target`. The same sources
 * must give the same bytes (guards.lock and the registry pin them): no VCS stamp, no paths, and
 * always the same output name.
 */
export async function buildGo(dir, target, { proxy } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'mcpg-go-'));
  const out = join(work, 'guard.wasm');
  await runGo(dir, ['build', '-buildmode=c-shared', '-trimpath', '-buildvcs=false', '-ldflags=-s -w', '-o', out, '.'], { proxy });
  copyFileSync(out, target);
  rmSync(work, { recursive: true, force: true });
}
