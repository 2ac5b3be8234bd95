// Records the guards built in dist/guards in registry/index.json as release TAG of REPO:
// each guard's version (from its guard.json), release URL and sha256; and pins the templates to
// the SDKs as they will be published (the AssemblyScript template's package-lock.json integrity,
// the Go template's go.sum). The release workflow runs it after building; run it by hand after
// changing a guard or an SDK (a released SDK version never changes: bump it first).
// Usage: node scripts/registry-update.mjs [--tag v0.1.0] [--repo OWNER/REPO] [--index FILE]
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NPM_PACKAGE, NPM_TARBALL_PATH, SDK_VERSION, goModule, packAssemblyScriptSdk } from './sdk-packages.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { values } = parseArgs({
  options: {
    tag: { type: 'string', default: `v${pkg.version}` },
    repo: { type: 'string', default: 'mcpg-dev/mcpg' },
    index: { type: 'string', default: join(root, 'registry/index.json') },
  },
});
const index = JSON.parse(readFileSync(values.index, 'utf8'));
for (const name of readdirSync(join(root, 'registry/guards')).sort()) {
  const manifest = JSON.parse(readFileSync(join(root, 'registry/guards', name, 'guard.json'), 'utf8'));
  const bytes = readFileSync(join(root, 'dist/guards', `${name}.wasm`));
  const entry = (index.guards[name] ??= {
    description: manifest.description,
    repository: values.repo,
    signer: {
      repository: values.repo,
      workflow: `${values.repo}/.github/workflows/release.yml`,
      ref: 'refs/tags/v*',
      issuer: 'https://token.actions.githubusercontent.com',
    },
    versions: {},
  });
  entry.description = manifest.description;
  entry.versions[manifest.version] = {
    url: `https://github.com/${values.repo}/releases/download/${values.tag}/${name}.wasm`,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  console.log(`${name}@${manifest.version}: ${entry.versions[manifest.version].sha256}`);
}
writeFileSync(values.index, `${JSON.stringify(index, null, 2)}\n`);

const templates = join(root, 'registry/templates');
const lockFile = join(templates, 'assemblyscript/package-lock.json');
const lock = JSON.parse(readFileSync(lockFile, 'utf8'));
const work = mkdtempSync(join(tmpdir(), 'mcpg-sdk-'));
const locked = lock.packages[`node_modules/${NPM_PACKAGE}`];
locked.version = SDK_VERSION;
locked.resolved = `https://registry.npmjs.org${NPM_TARBALL_PATH}`;
locked.integrity = packAssemblyScriptSdk(work).integrity;
rmSync(work, { recursive: true, force: true });
writeFileSync(lockFile, `${JSON.stringify(lock, null, 2)}\n`);
const go = goModule();
const goMod = join(templates, 'go/go.mod');
writeFileSync(goMod, readFileSync(goMod, 'utf8').replace(/^(require \S+\/registry\/sdk\/go) v\S+$/m, `$1 ${go.version}`));
writeFileSync(join(templates, 'go/go.sum'), go.sum);
console.log(`templates pinned to ${NPM_PACKAGE} ${lock.packages[`node_modules/${NPM_PACKAGE}`].version} and the Go SDK ${go.version}`);
