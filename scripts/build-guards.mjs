// Builds the registry's guards from source into dist/guards/NAME.wasm.
// Each build is cached under .cache/guards by a hash of its sources, the SDK and the compiler,
// so a rebuild without changes costs a copy. Usage: node scripts/build-guards.mjs [NAME...]
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGo } from './go-toolchain.mjs';
import { buildRust } from './rust-toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const guardsDir = join(root, 'registry/guards');
const out = join(root, 'dist/guards');
const cache = join(root, '.cache/guards');
const template = join(root, 'registry/templates/assemblyscript');

/** asc's flags, as the template's `npm run build` gives them: one flag set for authors and mcpg. */
function ascFlags() {
  const build = JSON.parse(readFileSync(join(template, 'package.json'), 'utf8')).scripts.build;
  const prefix = 'asc assembly/index.ts -o guard.wasm ';
  if (!build.startsWith(prefix)) throw new Error(`registry/templates/assemblyscript/package.json: the build script must start with "${prefix}"`);
  return build.slice(prefix.length).split(/\s+/);
}

function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  }).sort();
}

/** A guard's or SDK's source files (build output is not source). */
function sources(dir) {
  return files(dir).filter((p) => !/[/\\]target[/\\]/.test(relative(dir, p)));
}

function hashOf(paths, extra) {
  const h = createHash('sha256').update(extra);
  for (const p of paths) h.update(relative(root, p)).update(readFileSync(p));
  return h.digest('hex').slice(0, 16);
}

async function buildAssemblyScript(name, dir, target) {
  const { default: asc } = await import('assemblyscript/asc');
  const work = join(cache, `${name}-src`);
  mkdirSync(work, { recursive: true });
  const entry = join(work, 'entry.ts');
  const guard = relative(work, join(dir, 'assembly/guard')).replaceAll('\\', '/');
  const sdk = relative(work, join(root, 'registry/sdk/assemblyscript')).replaceAll('\\', '/');
  // The ABI exports: the template's index.ts, pointed at this guard and the SDK.
  const exportsFile = readFileSync(join(template, 'assembly/index.ts'), 'utf8');
  writeFileSync(entry, exportsFile.replace('"./guard"', `"${guard}"`).replaceAll('"@mcpg-dev/guard-sdk"', `"${sdk}"`));
  const { error, stderr } = await asc.main([entry, '-o', target, ...ascFlags()], {});
  if (error) throw new Error(`guard ${name}: ${error.message}\n${stderr.toString()}`);
}

/**
 * The guard in `dir` built from source with its language's SDK (`language`: "go", "rust", or
 * AssemblyScript otherwise), cached under .cache/guards by a hash of everything the build reads;
 * its path there. Also for the tests' own guards.
 */
export async function buildGuard(name, dir, language) {
  mkdirSync(cache, { recursive: true });
  const ascVersion = JSON.parse(readFileSync(join(root, 'node_modules/assemblyscript/package.json'), 'utf8')).version;
  const sdkDir = join(root, 'registry/sdk', language === 'go' || language === 'rust' ? language : 'assemblyscript');
  // The build itself is part of the key: a change in how a language is built is a new build.
  const how = join(root, 'scripts', language === 'go' ? 'go-toolchain.mjs' : language === 'rust' ? 'rust-toolchain.mjs' : 'build-guards.mjs');
  const key = hashOf([...sources(dir), ...sources(sdkDir), join(template, 'assembly/index.ts'), join(template, 'package.json'), how], `${language} ${ascVersion} v2`);
  const cached = join(cache, `${name}-${key}.wasm`);
  if (!existsSync(cached)) {
    if (language === 'go') await buildGo(dir, cached);
    else if (language === 'rust') await buildRust(dir, cached);
    else await buildAssemblyScript(name, dir, cached);
  }
  return cached;
}

export async function buildGuards(names = []) {
  mkdirSync(out, { recursive: true });
  const built = [];
  for (const name of readdirSync(guardsDir).sort()) {
    if (names.length && !names.includes(name)) continue;
    const dir = join(guardsDir, name);
    const manifest = JSON.parse(readFileSync(join(dir, 'guard.json'), 'utf8'));
    const target = join(out, `${name}.wasm`);
    copyFileSync(await buildGuard(name, dir, manifest.language), target);
    built.push(target);
  }
  return built;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const p of await buildGuards(process.argv.slice(2))) console.log(relative(root, p));
}
