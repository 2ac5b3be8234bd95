// Debian packages for guard toolchains, without changing the system: a private apt
// configuration that reuses this machine's Debian mirror downloads them, and dpkg -x unpacks
// them under a project-local folder. Go comes from Debian's next release (statically linked),
// Rust from this one (with what it needs that the machine lacks).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function debianMirror() {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    const deb822 = /^URIs:\s*(\S+)/m.exec(text);
    if (deb822 && !/security/.test(deb822[1])) return deb822[1];
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text);
    if (line) return line[1];
  }
  throw new Error('no Debian mirror found in /etc/apt: guard toolchains need Debian packages');
}

/**
 * A dpkg status without the packages whose names match `fresh`: apt resolving against it fetches
 * those (and what of them the machine has) again, whatever this machine has installed, while the
 * base system (libc and the like) still counts as present and is not fetched.
 */
export function withoutPackages(status, fresh) {
  return status
    .split(/\n(?=Package: )/)
    .filter((stanza) => !fresh.test(/^Package: (\S+)/m.exec(stanza)?.[1] ?? ''))
    .join('\n');
}

/** The options of the private apt of `base` (its sources, lists and cache; the machine's status). */
export function aptOptions(base, suite) {
  const apt = join(base, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'debs']) mkdirSync(join(apt, d), { recursive: true });
  const sources = join(apt, 'sources.list');
  writeFileSync(sources, `deb ${debianMirror()} ${suite} main\n`);
  return [
    '-o', `Dir::Etc::SourceList=${sources}`, '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${join(apt, 'lists')}`, '-o', `Dir::Cache=${join(apt, 'cache')}`,
    '-o', 'APT::Get::List-Cleanup=0', '-o', 'APT::Sandbox::User=root', '-q',
  ];
}

/** The private apt of `base`, resolving against the machine's status less the `fresh` packages. */
function privateApt({ base, suite, fresh, status = '/var/lib/dpkg/status' }) {
  const apt = join(base, 'apt');
  const opts = aptOptions(base, suite);
  const privateStatus = join(apt, 'status');
  const machine = existsSync(status) ? readFileSync(status, 'utf8') : '';
  writeFileSync(privateStatus, fresh ? withoutPackages(machine, fresh) : machine);
  return { apt, opts: [...opts, '-o', `Dir::State::status=${privateStatus}`] };
}

/** What `fetchDebian` with dependencies would download (package names), given a dpkg status. */
export function planDebian({ base, suite, packages, fresh, status }) {
  const { opts } = privateApt({ base, suite, fresh, status });
  if (!existsSync(join(base, 'apt/lists')) || !readdirSync(join(base, 'apt/lists')).some((f) => f.endsWith('_Packages'))) {
    execFileSync('apt-get', [...opts, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  // An empty archive dir: what the real fetch already downloaded is listed too.
  const empty = mkdtempSync(join(tmpdir(), 'mcpg-apt-plan-'));
  mkdirSync(join(empty, 'partial'));
  const out = execFileSync('apt-get', [...opts, '-o', `Dir::Cache::archives=${empty}`, 'install', '--download-only', '--print-uris', '--no-install-recommends', '-y', ...packages], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  rmSync(empty, { recursive: true, force: true });
  return [...out.matchAll(/^'\S+' (\S+?)_/gm)].map((m) => m[1]);
}

/**
 * Unpacks `packages` from Debian `suite` into `<base>/root`. With `dependencies`, apt resolves
 * what they need against the packages this machine has, but for those matching `fresh`: they
 * are fetched whether or not the machine has them (a machine with Debian's own rustc or a
 * packaged crate installed would otherwise leave them out of the unpacked toolchain).
 */
export function fetchDebian({ base, suite, packages, dependencies = false, fresh, what }) {
  const { apt, opts } = privateApt({ base, suite, fresh });
  console.error(`fetching ${what} (${packages.join(', ')}) from Debian ${suite} into ${base}`);
  execFileSync('apt-get', [...opts, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const debs = dependencies ? join(apt, 'cache/archives') : join(apt, 'debs');
  if (dependencies) {
    execFileSync('apt-get', [...opts, 'install', '--download-only', '--no-install-recommends', '-y', ...packages], { stdio: ['ignore', 'ignore', 'inherit'] });
  } else {
    execFileSync('apt-get', [...opts, 'download', ...packages], { cwd: debs, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  for (const deb of readdirSync(debs).filter((f) => f.endsWith('.deb'))) execFileSync('dpkg', ['-x', join(debs, deb), join(base, 'root')]);
  return join(base, 'root');
}
