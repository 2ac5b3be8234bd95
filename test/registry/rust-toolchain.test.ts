// The Rust toolchain's fetch on a machine that already has some of Debian's Rust packages: apt
// resolves against the machine's dpkg status less the toolchain's own packages, so rustc, cargo
// and the packaged crates are fetched (and unpacked where cargo looks) whatever is installed.
// A simulated status says rustc, cargo and librust-serde-json-dev are installed.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aptOptions, withoutPackages } from '../../scripts/debian.mjs';
import { RUST_FRESH, rustPlan } from '../../scripts/rust-toolchain.mjs';
import { ROOT, tempDir } from '../helpers/mcpg.ts';

/** Packages as dpkg records them once installed: their stanzas from the package lists, installed. */
function asInstalled(packages: string[]): string {
  return packages
    .map((p) => {
      const stanza = execFileSync('apt-cache', [...aptOptions(join(ROOT, '.cache/rust'), 'bookworm'), 'show', p], { encoding: 'utf8' }).split(/\n\n/)[0]!;
      return `${stanza}\nStatus: install ok installed\n`;
    })
    .join('\n');
}

const installed = (name: string, version: string) =>
  `Package: ${name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: ${version}\nDescription: simulated\n`;

describe('the Rust toolchain fetch', () => {
  it('leaves the toolchain packages out of the status it resolves against, and keeps the rest', () => {
    const status = [installed('libc6', '2.36-9'), installed('rustc', '1.63.0+dfsg1-2'), installed('librust-itoa-dev', '1.0.1-1')].join('\n');
    const kept = withoutPackages(status, RUST_FRESH);
    expect(kept).toContain('Package: libc6');
    expect(kept).not.toMatch(/Package: (rustc|librust-itoa-dev)/);
  });

  it('fetches rustc, cargo and the packaged crates on a machine that has them installed', { timeout: 120_000 }, () => {
    const file = join(tempDir(), 'status');
    const machine = readFileSync('/var/lib/dpkg/status', 'utf8');
    writeFileSync(file, `${machine.trimEnd()}\n\n${asInstalled(['rustc', 'libstd-rust-dev', 'libstd-rust-1.63', 'cargo', 'librust-serde-json-dev', 'librust-itoa-dev', 'librust-ryu-dev', 'librust-serde-dev'])}`);
    const plan = rustPlan(file);
    for (const name of ['rustc', 'cargo', 'librust-serde-json-dev', 'librust-itoa-dev', 'libstd-rust-dev-wasm32']) expect(plan).toContain(name);
    // The base system is not fetched again.
    expect(plan).not.toContain('libc6');
  });
});
