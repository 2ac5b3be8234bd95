// Rust for Rust guards, from this Debian release's packages (rustc 1.63, cargo, the wasm32-wasi
// standard library, lld, and serde/serde_json as Debian's packaged crates), unpacked under
// .cache/rust (scripts/debian.mjs). No crates.io and no rustup: cargo reads crates from the
// unpacked /usr/share/cargo/registry through a source replacement.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchDebian, planDebian } from './debian.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const base = join(root, '.cache/rust');
const SUITE = 'bookworm';
const PACKAGES = ['rustc', 'cargo', 'libstd-rust-dev-wasm32', 'lld-14', 'librust-serde-dev', 'librust-serde-derive-dev', 'librust-serde-json-dev'];
/**
 * The toolchain's own packages: fetched even where the machine has Debian's Rust installed. Not
 * the libraries other installed packages need too (libllvm14): those the machine has, rustc finds.
 */
export const RUST_FRESH = /^(rustc|cargo|libstd-rust|librust-|lld-|liblld-)/;
const usr = join(base, 'root/usr');

/** What the Rust fetch would download given a dpkg status (a machine's, or a simulated one). */
export function rustPlan(status) {
  return planDebian({ base, suite: SUITE, packages: PACKAGES, fresh: RUST_FRESH, status });
}

/** cargo and the environment it runs in. */
export function rustToolchain() {
  const cargo = join(usr, 'bin/cargo');
  if (!existsSync(cargo) || !existsSync(join(usr, 'lib/rustlib/wasm32-wasi'))) {
    fetchDebian({ base, suite: SUITE, packages: PACKAGES, dependencies: true, fresh: RUST_FRESH, what: 'Rust 1.63 for wasm32-wasi' });
    if (!existsSync(cargo)) throw new Error(`${cargo} missing after unpacking ${PACKAGES.join(', ')}`);
  }
  const home = join(base, 'cargo-home');
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, 'config.toml'),
    `[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = ${JSON.stringify(join(usr, 'share/cargo/registry'))}\n`,
  );
  const libs = readdirSync(join(usr, 'lib')).filter((d) => d.endsWith('-linux-gnu')).map((d) => join(usr, 'lib', d));
  return {
    cargo,
    env: {
      PATH: `${join(usr, 'bin')}:${process.env.PATH}`,
      HOME: process.env.HOME ?? base,
      CARGO_HOME: home,
      RUSTC: join(usr, 'bin/rustc'),
      LD_LIBRARY_PATH: libs.join(':'),
      // Paths stay out of the module: the same sources give the same bytes anywhere.
      RUSTFLAGS: `--remap-path-prefix=${root}=. --remap-path-prefix=${home}=cargo`,
    },
  };
}

/** Runs `cargo test` natively in `dir` (the SDK's `fake` module stands in for the gateway); its output. */
export function testRust(dir) {
  const { cargo, env } = rustToolchain();
  return execFileSync(cargo, ['test', '--offline', '--target-dir', join(base, 'target')], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Builds the Rust guard crate in `dir` (a cdylib) into `target`. One target directory serves
 * every guard, so serde and serde_json compile once (cargo locks it between concurrent builds).
 *
 * cargo hashes a path crate's absolute path into its symbols, so the same sources built in two
 * checkouts gave two modules (and the registry pins one digest). The crate is built from one
 * fixed place instead: a copy under the system temp dir, with mcpg's Rust SDK beside it where
 * its `../../sdk/rust` dependency expects it, and that place remapped out of the module.
 */
export async function buildRust(dir, target) {
  const { cargo, env } = rustToolchain();
  const work = join(base, 'target');
  const name = /^name\s*=\s*"([^"]+)"/m.exec(readFileSync(join(dir, 'Cargo.toml'), 'utf8'))?.[1];
  if (!name) throw new Error(`${dir}/Cargo.toml names no package`);
  // /tmp itself, not os.tmpdir(): a TMPDIR of the user's (or of the test run) is another place,
  // and so another module.
  const stage = join('/tmp', 'mcpg-rust-build', name);
  const crate = join(stage, 'registry/guards/crate');
  rmSync(stage, { recursive: true, force: true });
  cpSync(dir, crate, { recursive: true, filter: (p) => !/[/\\]target$/.test(p) });
  cpSync(join(root, 'registry/sdk/rust'), join(stage, 'registry/sdk/rust'), { recursive: true });
  execFileSync(cargo, ['build', '--offline', '--release', '--target', 'wasm32-wasi', '--target-dir', work], {
    cwd: crate,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...env, RUSTFLAGS: `${env.RUSTFLAGS} --remap-path-prefix=${stage}=.` },
  });
  const wasm = join(work, 'wasm32-wasi/release', `${name.replaceAll('-', '_')}.wasm`);
  if (!existsSync(wasm)) throw new Error(`no .wasm built in ${dir}`);
  copyFileSync(wasm, target);
}
