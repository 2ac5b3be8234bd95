// The guard SDKs as their package managers fetch them: the AssemblyScript SDK as the npm tarball
// `npm pack` makes, the Go SDK as the module zip a Go proxy serves (and its go.sum lines). The
// SDKs share one version, the npm package's. Tests serve both over HTTP; registry-update.mjs
// pins the templates to them (package-lock.json integrity, go.sum).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const AS_SDK = join(root, 'registry/sdk/assemblyscript');
const GO_SDK = join(root, 'registry/sdk/go');
export const GO_MODULE = 'github.com/mcpg-dev/mcpg/registry/sdk/go';
export const NPM_PACKAGE = '@mcpg-dev/guard-sdk';
export const SDK_VERSION = JSON.parse(readFileSync(join(AS_SDK, 'package.json'), 'utf8')).version;
/** Where an npm registry serves the SDK's tarball, under its origin (npm's layout). */
export const NPM_TARBALL_PATH = `/${NPM_PACKAGE}/-/${NPM_PACKAGE.split('/')[1]}-${SDK_VERSION}.tgz`;

/** `npm pack` of the AssemblyScript SDK into `dir`: the tarball's path and its npm integrity. */
export function packAssemblyScriptSdk(dir) {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: AS_SDK, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  return { file: join(dir, packed.filename), integrity: packed.integrity };
}

/** The Go SDK's files as a module zip holds them: `module@version/name`. */
function goFiles() {
  return readdirSync(GO_SDK)
    .sort()
    .map((name) => ({ name: `${GO_MODULE}@v${SDK_VERSION}/${name}`, data: readFileSync(join(GO_SDK, name)) }));
}

/** Go's dirhash "h1:" over files: sha256 of the sorted "sha256  name" lines. */
function h1(files) {
  const lines = [...files].sort((a, b) => (a.name < b.name ? -1 : 1)).map((f) => `${createHash('sha256').update(f.data).digest('hex')}  ${f.name}\n`);
  return `h1:${createHash('sha256').update(lines.join('')).digest('base64')}`;
}

/** The Go SDK as a module proxy serves it, and the go.sum lines that pin it. */
export function goModule() {
  const files = goFiles();
  const mod = readFileSync(join(GO_SDK, 'go.mod'));
  const version = `v${SDK_VERSION}`;
  const sum = `${GO_MODULE} ${version} ${h1(files)}\n${GO_MODULE} ${version}/go.mod ${h1([{ name: 'go.mod', data: mod }])}\n`;
  return { version, mod, zip: storedZip(files), sum };
}

/** A zip archive of `files`, stored (no compression): all a Go module zip needs. */
function storedZip(files) {
  const local = [];
  const central = [];
  let offset = 0;
  for (const { name, data } of files) {
    const n = Buffer.from(name);
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0);
    head.writeUInt16LE(20, 4);
    head.writeUInt32LE(crc32(data), 14);
    head.writeUInt32LE(data.length, 18);
    head.writeUInt32LE(data.length, 22);
    head.writeUInt16LE(n.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    head.copy(dir, 16, 14, 26); // crc32 and both sizes
    dir.writeUInt16LE(n.length, 28);
    dir.writeUInt32LE(offset, 42);
    local.push(head, n, data);
    central.push(dir, n);
    offset += head.length + n.length + data.length;
  }
  const size = central.reduce((s, b) => s + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(size, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...local, ...central, end]);
}
