// Guards from an OCI registry, end to end against a real one: Debian's docker-registry (the CNCF
// distribution server) with token auth, pushed by `mcpg guard push`, signed by the test Sigstore
// as attest-build-provenance signs an image (the manifest digest), the bundle stored as an OCI
// 1.1 referrer (this registry has no referrers API: the sha256-HEX tag fallback).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciRegistry, bundleReferrer } from '../../src/supply/oci.ts';
import { ROOT, fixtureServer, mcpgAsync, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';
import { type TestRegistry, ociRegistry } from '../helpers/oci-registry.ts';
import { GITHUB_ISSUER, type TestSigstore, testSigstore } from '../helpers/sigstore.ts';

const GUARD = readFileSync(join(ROOT, 'dist/guards/allow-list.wasm'));
/** The same guard with a custom section naming it: other bytes, other digest, still valid. */
const variant = (name: string) => Buffer.concat([GUARD, Buffer.from([0, name.length + 1, name.length]), Buffer.from(name)]);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const SIGNER = { repository: 'octo/guards', workflow: 'octo/guards/.github/workflows/release.yml', ref: 'refs/tags/v*', issuer: GITHUB_ISSUER };
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let registry: TestRegistry;
let sigstore: TestSigstore;
let rootFile: string;
/** What an author's machine has: credentials for the registry. */
let authorEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  [registry, sigstore] = await Promise.all([ociRegistry(), testSigstore()]);
  rootFile = join(tempDir(), 'trusted_root.json');
  writeFileSync(rootFile, JSON.stringify(sigstore.trustedRoot));
  authorEnv = { DOCKER_CONFIG: registry.dockerConfig() };
}, 120_000);
afterAll(async () => {
  await registry?.close();
  sigstore?.close();
});

/** A DSSE provenance statement for a manifest digest, signed as the release workflow would. */
async function bundleFor(digest: string, repository = 'octo/guards'): Promise<string> {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'guard', digest: { sha256: digest.replace('sha256:', '') } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: { buildDefinition: { buildType: 'https://actions.github.io/buildtypes/workflow/v1' } },
  };
  return sigstore.sign(new Uint8Array(), { repository }, 'dsse', statement);
}

/** The author's flow: the digest first, the bundle for it, then the push with the bundle. */
async function pushSigned(repo: string, bytes: Uint8Array = GUARD, tag = '1.0.0'): Promise<{ ref: string; pinned: string; digest: string }> {
  const dir = tempDir();
  const file = join(dir, 'guard.wasm');
  writeFileSync(file, bytes);
  const ref = `${registry.host}/${repo}:${tag}`;
  const dry = await mcpgAsync(['guard', 'push', file, `oci://${ref}`, '--digest-only']);
  expect(dry.code, dry.stderr).toBe(0);
  const pinned = dry.stdout.trim();
  const digest = pinned.slice(pinned.indexOf('@') + 1);
  writeFileSync(join(dir, 'guard.sigstore.json'), await bundleFor(digest));
  const pushed = await mcpgAsync(['guard', 'push', file, `oci://${ref}`, '--bundle', join(dir, 'guard.sigstore.json')], authorEnv);
  expect(pushed.code, pushed.stderr).toBe(0);
  expect(pushed.stdout.trim()).toBe(pinned);
  return { ref, pinned, digest };
}

/** A config with one OCI guard on a fixture server, in a folder of its own with its own cache. */
function setup(oci: string, guard: object = { signer: SIGNER }) {
  const dir = tempDir();
  const config = writeConfig(dir, {
    mcpServers: { t: { ...fixtureServer('tools.ts', 't'), guard: 'g' } },
    guards: { g: { oci, policy: { allow: ['echo'] }, trusted_root: rootFile, ...guard } },
  });
  // A reader of the registry has no credentials: pulls are anonymous.
  const env = (cache = 'cache') => ({ MCPG_CACHE_DIR: join(dir, cache), DOCKER_CONFIG: tempDir() });
  const run = (...args: string[]) => mcpgAsync([...args, '--config', config], env());
  /** `guard verify --frozen` as CI runs it: a fresh machine, nothing cached. */
  let fresh = 0;
  const verifyFresh = () => mcpgAsync(['guard', 'verify', '--frozen', '--config', config], env(`fresh-${++fresh}`));
  const lock = () => JSON.parse(readFileSync(join(dir, 'guards.lock'), 'utf8')) as { guards: Record<string, Record<string, unknown>> };
  return { dir, config, env, run, verifyFresh, lock };
}

/** What someone with push rights (or the registry's storage) can do: put any manifest under a tag. */
async function putManifest(repo: string, reference: string, body: object, mediaType: string) {
  const token = (await (
    await fetch(`http://${registry.host}/v2/`).then(async (r) => {
      const realm = /realm="([^"]+)"/.exec(r.headers.get('www-authenticate') ?? '')![1]!;
      return fetch(`${realm}?service=mcpg-test-registry&scope=repository:${repo}:pull,push`, {
        headers: { authorization: `Basic ${Buffer.from(`${registry.user}:${registry.password}`).toString('base64')}` },
      });
    })
  ).json()) as { token: string };
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token.token}`, 'content-type': mediaType },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
}

describe('OCI guards: push, lock, verify, run', () => {
  it('pushes a guard with its bundle, locks it by digest anonymously, verifies it frozen and offline, and runs it', async () => {
    const { ref, pinned } = await pushSigned('guards/allow');
    const s = setup(ref);
    const before = registry.tokenRequests.length;
    const locked = await s.run('guard', 'lock');
    expect(locked.code, locked.stderr).toBe(0);
    expect(s.lock().guards.g).toMatchObject({
      source: `oci:${ref}`,
      oci: pinned,
      sha256: sha(GUARD),
      size: GUARD.length,
      signer: { issuer: GITHUB_ISSUER, repository: 'octo/guards', workflow: 'octo/guards/.github/workflows/release.yml', ref: 'refs/tags/v1.0.0' },
    });
    // The reader's pulls carried no credentials (the author's are not on this machine).
    expect(registry.tokenRequests.slice(before).every((t) => t.basic === undefined && t.scope === 'repository:guards/allow:pull')).toBe(true);

    const fresh = await s.verifyFresh();
    expect(fresh.code, fresh.stderr).toBe(0);
    const offline = await s.run('guard', 'verify', '--frozen', '--offline');
    expect(offline.code, offline.stderr).toBe(0);
    const gw = await startGateway(s.config, ['--frozen', '--offline'], s.env());
    try {
      expect((await gw.call('t___echo', { text: 'from oci' })).text).toBe('t: from oci');
      expect((await gw.call('t___add', { a: 1, b: 1 })).isError).toBe(true);
    } finally {
      await gw.close();
    }
    const outdated = await s.run('guard', 'outdated');
    expect(outdated.stdout).toMatch(/1 OCI tags unchanged since locked/);
  });

  it('refuses a tampered layer, naming the guard and the reference', async () => {
    const bytes = variant('tampered');
    const { ref } = await pushSigned('guards/layer', bytes);
    const s = setup(ref);
    expect((await s.run('guard', 'lock')).code).toBe(0);
    writeFileSync(registry.blobFile(sha(bytes)), variant('evil!!!!'));
    const r = await s.verifyFresh();
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(new RegExp(`guard "g".*the module layer in ${registry.host}/guards/layer should be sha256:${sha(bytes)}`));
  });

  it('refuses a tag moved to another manifest, and guard outdated says where it points', async () => {
    const { ref, digest } = await pushSigned('guards/tag', variant('one'));
    const s = setup(ref);
    expect((await s.run('guard', 'lock')).code).toBe(0);
    const other = await pushSigned('guards/tag', variant('two'));
    expect(other.digest).not.toBe(digest);
    const r = await s.verifyFresh();
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain(`the tag ${ref} now points to ${other.digest}, but guards.lock pins ${digest}`);
    const outdated = await s.run('guard', 'outdated');
    expect(outdated.stdout).toContain(`g: oci:${ref} now points to ${other.digest}, locked ${digest}`);
    // What was locked still runs: the lock pins the digest, not the tag.
    const pinnedRun = await s.run('guard', 'verify', '--frozen', '--offline');
    expect(pinnedRun.code, pinnedRun.stderr).toBe(0);
  });

  it('refuses a bundle for another digest, and a missing bundle', async () => {
    const { ref, digest, pinned } = await pushSigned('guards/bundle', variant('bundle'));
    const s = setup(ref);
    expect((await s.run('guard', 'lock')).code).toBe(0);
    const subject = { mediaType: MANIFEST, digest, size: 0 };
    subject.size = (await new OciRegistry(registry.host, { label: 'test', env: {} }).manifest('guards/bundle', digest)).bytes.length;
    const index = (manifests: object[]) => ({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });

    // A genuine bundle of the same signer, for another manifest, stored as this one's referrer.
    const foreign = Buffer.from(await bundleFor(`sha256:${'ab'.repeat(32)}`));
    const author = new OciRegistry(registry.host, { label: 'attacker', env: authorEnv });
    const planted = bundleReferrer(foreign, subject);
    await author.pushReferrer('guards/bundle', foreign, subject);
    await putManifest('guards/bundle', digest.replace(':', '-'), index([planted.descriptor]), 'application/vnd.oci.image.index.v1+json');
    const other = await s.verifyFresh();
    expect(other.code).not.toBe(0);
    expect(other.stdout + other.stderr).toMatch(new RegExp(`guard "g" \\(${pinned.replace(/[.]/g, '\\.')}\\).*(digest|subject)`, 's'));

    await putManifest('guards/bundle', digest.replace(':', '-'), index([]), 'application/vnd.oci.image.index.v1+json');
    const missing = await s.verifyFresh();
    expect(missing.code).not.toBe(0);
    expect(missing.stdout + missing.stderr).toContain(`guard "g" (${pinned}): no Sigstore bundle found (no Sigstore bundle refers to ${pinned} in the registry`);

    // The author's push refuses to store a bundle that signs something else.
    const dir = tempDir();
    writeFileSync(join(dir, 'g.wasm'), variant('bundle'));
    writeFileSync(join(dir, 'b.json'), foreign);
    const refused = await mcpgAsync(['guard', 'push', join(dir, 'g.wasm'), `oci://${ref}`, '--bundle', join(dir, 'b.json')], authorEnv);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`signs ${'ab'.repeat(32)}, not this module's manifest ${digest}`);
  });

  it('refuses a push without credentials or with wrong ones, saying where they came from', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'g.wasm'), GUARD);
    const anonymous = await mcpgAsync(['guard', 'push', join(dir, 'g.wasm'), `oci://${registry.host}/guards/anon:1`], { DOCKER_CONFIG: tempDir() });
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain(`${registry.host} refused to let mcpg push to guards/anon (HTTP 401) anonymously (no credentials for ${registry.host} in the Docker config; run \`docker login ${registry.host}\`)`);
    const wrong = registry.dockerConfig('wrong-password');
    const refused = await mcpgAsync(['guard', 'push', join(dir, 'g.wasm'), `oci://${registry.host}/guards/anon:1`], { DOCKER_CONFIG: wrong });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`with the credentials from ${join(wrong, 'config.json')}`);
  });

  it('locks an OCI guard the plugin registry lists, pinned by digest', async () => {
    const { pinned } = await pushSigned('guards/listed', variant('listed'));
    const index = {
      version: 1,
      guards: {
        listed: {
          description: 'an OCI guard',
          repository: 'octo/guards',
          signer: { repository: 'octo/guards', workflow: 'octo/guards/.github/workflows/release.yml', issuer: GITHUB_ISSUER },
          versions: { '1.0.0': { oci: pinned, sha256: sha(variant('listed')) } },
        },
      },
    };
    const dir = tempDir();
    const indexFile = join(dir, 'index.json');
    writeFileSync(indexFile, JSON.stringify(index));
    const config = writeConfig(dir, {
      mcpServers: { t: { ...fixtureServer('tools.ts', 't'), guard: 'g' } },
      guards: { g: { source: 'listed@^1', policy: { allow: ['echo'] }, trusted_root: rootFile } },
    });
    const env = { MCPG_CACHE_DIR: join(dir, 'cache'), DOCKER_CONFIG: tempDir() };
    const locked = await mcpgAsync(['guard', 'lock', '--registry', indexFile, '--config', config], env);
    expect(locked.code, locked.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'guards.lock'), 'utf8')).guards.g).toMatchObject({ source: 'registry:listed@^1', oci: pinned, sha256: sha(variant('listed')) });
    const listed = await mcpgAsync(['registry', 'info', 'listed', '--registry', indexFile], env);
    expect(listed.stdout).toContain(`oci://${pinned}`);
    // Yanked in the index: verify says so.
    index.guards.listed.versions['1.0.0'] = { ...index.guards.listed.versions['1.0.0'], yanked: 'a test' } as never;
    writeFileSync(indexFile, JSON.stringify(index));
    const verify = await mcpgAsync(['guard', 'verify', '--registry', indexFile, '--config', config], env);
    expect(verify.code).not.toBe(0);
    expect(verify.stdout + verify.stderr).toContain('yanked');
  });
});
