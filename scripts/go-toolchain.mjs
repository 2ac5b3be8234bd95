// Go >= 1.24 for Go guards (//go:wasmexport), without changing the system: Debian's next release
// ships golang-1.24-go, statically linked. It is fetched with apt-get download through a private
// apt configuration that reuses this machine's Debian mirror, and unpacked under .cache/go.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const base = join(root, '.cache/go');
const SUITE = 'trixie';
const PACKAGES = ['golang-1.24-go', 'golang-1.24-src'];
export const GOROOT = join(base, 'root/usr/lib/go-1.24');

function debianMirror() {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    const deb822 = /^URIs:\s*(\S+)/m.exec(text);
    if (deb822 && !/security/.test(deb822[1])) return deb822[1];
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text);
    if (line) return line[1];
  }
  throw new Error('no Debian mirror found in /etc/apt: Go guards need Debian packages');
}

export function goToolchain() {
  const go = join(GOROOT, 'bin/go');
  if (existsSync(go)) return go;
  const apt = join(base, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'debs', 'root']) mkdirSync(join(apt, d), { recursive: true });
  const sources = join(apt, 'sources.list');
  writeFileSync(sources, `deb ${debianMirror()} ${SUITE} main\n`);
  const opts = [
    '-o', `Dir::Etc::SourceList=${sources}`, '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${join(apt, 'lists')}`, '-o', `Dir::Cache=${join(apt, 'cache')}`,
    '-o', 'APT::Get::List-Cleanup=0', '-o', 'APT::Sandbox::User=root', '-q',
  ];
  console.error(`fetching ${PACKAGES.join(', ')} from Debian ${SUITE} into .cache/go`);
  execFileSync('apt-get', [...opts, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('apt-get', [...opts, 'download', ...PACKAGES], { cwd: join(apt, 'debs'), stdio: ['ignore', 'ignore', 'inherit'] });
  for (const deb of readdirSync(join(apt, 'debs')).filter((f) => f.endsWith('.deb'))) {
    execFileSync('dpkg', ['-x', join(apt, 'debs', deb), join(base, 'root')]);
  }
  if (!existsSync(go)) throw new Error(`${go} missing after unpacking ${PACKAGES.join(', ')}`);
  return go;
}

/**
 * Builds a Go guard (a reactor: -buildmode=c-shared for wasip1) into `target`. The same sources
 * must give the same bytes (guards.lock and the registry pin them): no VCS stamp, no paths, and
 * always the same output name.
 */
export async function buildGo(dir, target) {
  const go = goToolchain();
  const work = mkdtempSync(join(tmpdir(), 'mcpg-go-'));
  const out = join(work, 'guard.wasm');
  execFileSync(go, ['build', '-buildmode=c-shared', '-trimpath', '-buildvcs=false', '-ldflags=-s -w', '-o', out, '.'], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? base,
      GOROOT,
      GOTOOLCHAIN: 'local',
      GOPROXY: 'off',
      GOFLAGS: '-mod=mod',
      GOWORK: 'off',
      GOCACHE: join(base, 'build-cache'),
      GOPATH: join(base, 'path'),
      GOOS: 'wasip1',
      GOARCH: 'wasm',
      CGO_ENABLED: '0',
    },
  });
  copyFileSync(out, target);
  rmSync(work, { recursive: true, force: true });
}
