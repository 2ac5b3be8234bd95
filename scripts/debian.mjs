// Debian packages for guard toolchains, without changing the system: a private apt
// configuration that reuses this machine's Debian mirror downloads them, and dpkg -x unpacks
// them under a project-local folder. Go comes from Debian's next release (statically linked),
// Rust from this one (with what it needs that the machine lacks).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
 * Unpacks `packages` from Debian `suite` into `<base>/root`. With `dependencies`, apt resolves
 * what they need against the packages this machine has, and fetches the rest too.
 */
export function fetchDebian({ base, suite, packages, dependencies = false, what }) {
  const apt = join(base, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'debs']) mkdirSync(join(apt, d), { recursive: true });
  const sources = join(apt, 'sources.list');
  writeFileSync(sources, `deb ${debianMirror()} ${suite} main\n`);
  const opts = [
    '-o', `Dir::Etc::SourceList=${sources}`, '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${join(apt, 'lists')}`, '-o', `Dir::Cache=${join(apt, 'cache')}`,
    '-o', 'APT::Get::List-Cleanup=0', '-o', 'APT::Sandbox::User=root', '-q',
  ];
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
