import { createHash } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FakeGitHub } from '../helpers/fake-github.ts';
import { ROOT, fixtureServer, mcpgAsync, mcpgRun, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';
import { releaseWorld } from '../helpers/release-world.ts';
import { GITHUB_ISSUER, type TestSigstore, testSigstore } from '../helpers/sigstore.ts';

const GUARD = readFileSync(join(ROOT, 'dist/guards/allow-list.wasm'));
/** The same guard with a custom section naming it: other bytes, other digest, still valid. */
const variant = (name: string) => Buffer.concat([GUARD, Buffer.from([0, name.length + 1, name.length]), Buffer.from(name)]);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const SIGNER = {
  repository: 'octo/guards',
  workflow: 'octo/guards/.github/workflows/release.yml',
  ref: 'refs/tags/v*',
  issuer: GITHUB_ISSUER,
};

const world = releaseWorld();
let gh: FakeGitHub;
let sigstore: TestSigstore;
let rootFile: string;

beforeAll(() => {
  ({ gh, sigstore } = world);
  rootFile = join(tempDir(), 'trusted_root.json');
  writeFileSync(rootFile, JSON.stringify(sigstore.trustedRoot));
});

/** A config in a fresh folder with one guard on a fixture server, its own cache, and env for mcpg. */
function setup(guard: object) {
  const dir = tempDir();
  const config = writeConfig(dir, {
    mcpServers: { t: { ...fixtureServer('tools.ts', 't'), guard: 'g' } },
    guards: { g: { policy: { allow: ['echo'] }, trusted_root: rootFile, ...guard } },
  });
  const env = { ...gh.env, MCPG_CACHE_DIR: join(dir, 'cache') };
  const run = (...args: string[]) => mcpgAsync([...args, '--config', config], env);
  const lock = () => JSON.parse(readFileSync(join(dir, 'guards.lock'), 'utf8')) as { guards: Record<string, Record<string, unknown>> };
  return { dir, config, env, run, lock };
}

let n = 0;
async function signedRelease(bytes: Uint8Array = GUARD, identity = { repository: 'octo/guards' }, where: 'sidecar' | 'attestation' = 'sidecar', priv = false) {
  const bundle = await sigstore.sign(bytes, identity);
  const asset = `guard-${++n}.wasm`;
  const release = where === 'sidecar' ? { sidecar: bundle } : { attestation: { sha256: sha(bytes), bundle } };
  return { asset, url: gh.publish('octo/guards', 'v1.0.0', asset, bytes, { ...release, private: priv }) };
}

describe('remote guards: lock, verify, run', () => {
  it('locks a signed release asset (bundle beside it), verifies it frozen, and runs it', async () => {
    const { url } = await signedRelease();
    const s = setup({ url, signer: SIGNER });
    const locked = await s.run('guard', 'lock');
    expect(locked.code).toBe(0);
    expect(s.lock().guards.g).toMatchObject({
      source: `url:${url}`,
      sha256: sha(GUARD),
      size: GUARD.length,
      signer: {
        issuer: GITHUB_ISSUER,
        san: 'https://github.com/octo/guards/.github/workflows/release.yml@refs/tags/v1.0.0',
        repository: 'octo/guards',
        ref: 'refs/tags/v1.0.0',
        workflow: 'octo/guards/.github/workflows/release.yml',
      },
    });
    const verified = await s.run('guard', 'verify', '--frozen', '--offline');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/1 guards verified/);
    const gw = await startGateway(s.config, ['--frozen', '--offline'], s.env);
    try {
      expect((await gw.call('t___echo', { text: 'remote' })).text).toBe('t: remote');
      expect((await gw.call('t___add', { a: 1, b: 1 })).isError).toBe(true);
    } finally {
      await gw.close();
    }
  });

  it("keeps each verdict it reached, sealed: a tampered one is verified again, and another signer policy is its own verdict", async () => {
    const { url } = await signedRelease();
    const s = setup({ url, signer: SIGNER });
    expect((await s.run('guard', 'lock')).code).toBe(0);
    const derived = join(s.dir, 'cache', 'derived');
    expect(readdirSync(derived).length).toBeGreaterThan(0);
    const warm = await s.run('guard', 'verify', '--frozen', '--offline');
    expect(warm.code).toBe(0);
    expect(warm.stderr).not.toMatch(/made again/);
    // Every kept entry altered (the single executable's verdict of the whole run too): none is
    // trusted, each verdict is reached again.
    for (const f of readdirSync(derived)) {
      const b = readFileSync(join(derived, f));
      b.writeUInt8(b.readUInt8(b.length - 1) ^ 1, b.length - 1);
      writeFileSync(join(derived, f), b);
    }
    const again = await s.run('guard', 'verify', '--frozen', '--offline');
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/was not written by this machine's mcpg: made again/);
    // The same bundle under another policy is not the verdict kept for the first.
    writeFileSync(s.config, readFileSync(s.config, 'utf8').replace('"octo/guards"', '"octo/other"'));
    const other = await s.run('guard', 'verify', '--frozen', '--offline');
    expect(other.code).toBe(6);
  });

  // Outside the single executable no verdict of a whole run is kept (src/supply/verify-verdict.ts).
  it.runIf(process.env.MCPG_BIN)('answers a verify with nothing changed from the verdict of the last, and goes the whole way when a file it read changed or that verdict is forged', async () => {
    const { url } = await signedRelease();
    const s = setup({ url, signer: SIGNER });
    expect((await s.run('guard', 'lock')).code).toBe(0);
    const derived = join(s.dir, 'cache', 'derived');
    const written = () => new Map(readdirSync(derived).map((f) => [f, statSync(join(derived, f)).ino]));
    const verify = () => s.run('guard', 'verify', '--frozen', '--offline');
    const locked = written();
    const first = await verify();
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const kept = written();
    const verdict = [...kept.keys()].find((f) => !locked.has(f))!;
    expect(verdict).toBeDefined();
    // Answered from it: the same words, and nothing written.
    expect(await verify()).toEqual(first);
    expect(written()).toEqual(kept);
    // A forged verdict is not trusted: the run goes the whole way, and keeps a true one.
    const sealed = readFileSync(join(derived, verdict));
    writeFileSync(join(derived, verdict), Buffer.from(sealed.toString('latin1').replace('1 guards verified', '7 guards verified'), 'latin1'));
    const forged = await verify();
    expect(forged.code).toBe(0);
    expect(forged.stdout).toBe(first.stdout);
    expect(forged.stderr).toMatch(/was not written by this machine's mcpg: made again/);
    expect(statSync(join(derived, verdict)).ino).not.toBe(kept.get(verdict));
    expect(await verify()).toEqual(first);
    // guards.lock changed: the problem is found; put back as it was, the verdict holds again.
    const lockFile = join(s.dir, 'guards.lock');
    const lockText = readFileSync(lockFile, 'utf8');
    writeFileSync(lockFile, lockText.replace(sha(GUARD), sha(variant('other'))));
    expect(await verify()).toMatchObject({ code: 6, stderr: expect.stringMatching(/guard "g"/) });
    writeFileSync(lockFile, lockText);
    expect(await verify()).toEqual(first);
    // A run that warned (here: sealed entries it did not write) keeps no verdict; the next, quiet, does.
    for (const f of readdirSync(derived)) {
      if (f === verdict) rmSync(join(derived, f));
      else writeFileSync(join(derived, f), Buffer.from(readFileSync(join(derived, f)).map((b, i) => (i === 0 ? b ^ 1 : b))));
    }
    expect(await verify()).toMatchObject({ code: 0, stdout: first.stdout, stderr: expect.stringMatching(/made again/) });
    expect(existsSync(join(derived, verdict))).toBe(false);
    expect(await verify()).toEqual(first);
    expect(existsSync(join(derived, verdict))).toBe(true);
    // The cached guard changed: not the bytes verified, so not the guard run.
    writeFileSync(join(s.dir, 'cache', 'sha256', sha(GUARD)), variant('other'));
    expect(await verify()).toMatchObject({ code: 6, stderr: expect.stringMatching(/guard "g"/) });
  });

  it('finds the bundle through the attestations API, with the token for a private repository', async () => {
    const { url, asset } = await signedRelease(GUARD, { repository: 'octo/guards' }, 'attestation', true);
    const s = setup({ url, signer: SIGNER });
    const before = gh.requests.length;
    const r = await s.run('guard', 'lock');
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/warning|error/);
    const mine = gh.requests.slice(before);
    // The token went to GitHub's hosts; the redirect target (another host) never saw it.
    expect(mine.find((q) => q.path.endsWith(`/${asset}`) && q.host.startsWith('127.0.0.1'))?.auth).toBe(`Bearer ${gh.token}`);
    const objectStore = mine.filter((q) => q.path.startsWith('/objects/'));
    expect(objectStore.length).toBeGreaterThan(0);
    for (const q of objectStore) expect(q.auth).toBeUndefined();
    expect(mine.some((q) => q.path.includes('/api/repos/octo/guards/attestations/sha256:'))).toBe(true);
  });

  it('without a token a private repository is not found, and the error says what to do', async () => {
    const { url } = await signedRelease(GUARD, { repository: 'octo/guards' }, 'sidecar', true);
    const s = setup({ url, signer: SIGNER });
    const r = await mcpgAsync(['guard', 'lock', '--config', s.config], { ...s.env, GITHUB_TOKEN: '', GH_TOKEN: '' });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/not found \(HTTP 404\)/);
  });

  it('refuses a remote guard without a signer, unless the config says unsigned and pins its bytes', async () => {
    const url = gh.publish('octo/guards', 'v1.0.0', `unsigned-${++n}.wasm`, GUARD);
    const refused = await setup({ url }).run('guard', 'lock');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/guards\.g\.signer: a remote guard needs a signer .*to accept it by its hash alone, set unsigned = true and sha256/);
    const s = setup({ url, unsigned: true, sha256: sha(GUARD) });
    const r = await s.run('guard', 'lock');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: guard "g" has no signer: it is locked by its hash only/);
    const report = JSON.parse((await s.run('guard', 'verify', '--json')).stdout) as { guards: unknown[] };
    expect(report.guards).toEqual([{ guard: 'g', source: `url:${url}`, sha256: sha(GUARD), verified: 'hash' }]);
  });

  it('retries a 5xx and succeeds', async () => {
    const url = gh.publish('octo/guards', 'v1.0.0', `flaky-${++n}.wasm`, GUARD);
    const s = setup({ url, unsigned: true, sha256: sha(GUARD) });
    gh.failNext(2);
    expect((await s.run('guard', 'lock')).code).toBe(0);
  });

  it('honours Retry-After on a 429, and says when retries run out', async () => {
    const url = gh.publish('octo/guards', 'v1.0.0', `limited-${++n}.wasm`, GUARD);
    const s = setup({ url, unsigned: true, sha256: sha(GUARD) });
    gh.failNext(1, 429, { 'retry-after': '1' });
    const before = gh.requests.length;
    expect((await s.run('guard', 'lock')).code).toBe(0);
    // The 429, its retry (GitHub's redirect), and the object store.
    expect(gh.requests.length - before).toBe(3);
    gh.failNext(10, 503);
    const r = await setup({ url: gh.publish('octo/guards', 'v1.0.0', `down-${++n}.wasm`, GUARD), unsigned: true, sha256: sha(GUARD) }).run('guard', 'lock');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/guard "g": cannot download http:\/\/127\.0\.0\.1:\d+\/octo\/guards\/releases\/download\/v1\.0\.0\/down-\d+\.wasm: HTTP 503, still after 3 retries; try again later/);
    gh.failNext(0);
  });

  it('a host that cannot be reached is named with the guard, the URL and what to try', async () => {
    const r = await setup({ url: 'https://guards.invalid/g.wasm', unsigned: true, sha256: sha(GUARD) }).run('guard', 'lock');
    expect(r.code).toBe(6);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      'mcpg: guard "g": cannot download https://guards.invalid/g.wasm: the host name does not resolve (ENOTFOUND); check the network, or set HTTPS_PROXY (and NO_PROXY); a guard already in the cache needs no network (--offline)',
    );
  });

  it('goes through HTTP_PROXY, and around it for NO_PROXY hosts', async () => {
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      seen.push(req.url ?? '');
      const target = new URL(req.url ?? '');
      const up = httpRequest(target, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const url = gh.publish('octo/guards', 'v1.0.0', `proxied-${++n}.wasm`, GUARD);
      const s = setup({ url, unsigned: true, sha256: sha(GUARD) });
      const viaProxy = await mcpgAsync(['guard', 'lock', '--config', s.config], { ...s.env, HTTP_PROXY: proxyUrl, NO_PROXY: '' });
      expect(viaProxy.code).toBe(0);
      expect(seen.some((u) => u.endsWith(`/proxied-${n}.wasm`))).toBe(true);
      seen.length = 0;
      const s2 = setup({ url, unsigned: true, sha256: sha(GUARD) });
      const around = await mcpgAsync(['guard', 'lock', '--config', s2.config], { ...s2.env, HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1,localhost' });
      expect(around.code).toBe(0);
      expect(seen).toEqual([]);
    } finally {
      proxy.close();
    }
  });

  it('two processes racing for the same digest download it once', async () => {
    const { url, asset } = await signedRelease();
    const s = setup({ url, signer: SIGNER });
    expect((await s.run('guard', 'lock')).code).toBe(0);
    const cache = join(s.dir, 'cache');
    const again = setup({ url, signer: SIGNER });
    writeFileSync(join(again.dir, 'guards.lock'), readFileSync(join(s.dir, 'guards.lock')));
    const env = { ...again.env, MCPG_CACHE_DIR: join(cache, 'shared') };
    const before = gh.downloads(asset);
    const [a, b] = await Promise.all([
      mcpgAsync(['guard', 'verify', '--config', again.config], env),
      mcpgAsync(['guard', 'verify', '--config', again.config], env),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(gh.downloads(asset) - before).toBe(1);
  });
});

describe('attacks are refused with a clear message', () => {
  it('a tampered download (bytes differ from the lock)', async () => {
    const { url } = await signedRelease();
    const s = setup({ url, signer: SIGNER });
    expect((await s.run('guard', 'lock')).code).toBe(0);
    gh.tamper(url, Buffer.concat([GUARD, Buffer.from([0])]));
    const fresh = { ...s.env, MCPG_CACHE_DIR: join(s.dir, 'empty-cache') };
    const r = await mcpgRun(s.config, ['--frozen'], fresh);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/guard "g": .* has sha256 [0-9a-f]{64}, but guards.lock says [0-9a-f]{64}; if this change is expected, run `mcpg guard lock --update g`/);
    gh.tamper(url, GUARD);
  });

  it('a tampered cache entry is discarded and fetched again; offline it is refused', async () => {
    const { url } = await signedRelease();
    const s = setup({ url, signer: SIGNER });
    expect((await s.run('guard', 'lock')).code).toBe(0);
    const file = join(s.dir, 'cache/sha256', sha(GUARD));
    writeFileSync(file, Buffer.from('evil'));
    const offline = await s.run('guard', 'verify', '--offline');
    expect(offline.code).toBe(6);
    expect(offline.stderr).toMatch(/is not in the cache, and --offline forbids fetching it/);
    writeFileSync(file, Buffer.from('evil'));
    expect((await s.run('guard', 'verify')).code).toBe(0);
    expect(sha(readFileSync(file))).toBe(sha(GUARD));
  });

  it('a lock edited by hand', async () => {
    const { url } = await signedRelease();
    const s = setup({ url, signer: SIGNER });
    expect((await s.run('guard', 'lock')).code).toBe(0);
    const lock = s.lock();
    lock.guards.g!.sha256 = 'f'.repeat(64);
    lock.guards.extra = { ...lock.guards.g };
    writeFileSync(join(s.dir, 'guards.lock'), JSON.stringify(lock));
    const r = await s.run('guard', 'verify', '--frozen', '--json');
    expect(r.code).toBe(6);
    const report = JSON.parse(r.stdout) as { ok: boolean; problems: { guard: string; problem: string }[] };
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      // The problem under the guard's name does not name it again.
      { guard: 'g', problem: expect.stringMatching(/^\S+ has sha256 [0-9a-f]{64}, but guards.lock says f{64}/) },
      { guard: 'extra', problem: 'in guards.lock but not in the config' },
    ]);
  });

  const identityCases: [string, object, RegExp][] = [
    ['wrong repository', { ...SIGNER, repository: 'octo/other' }, /built in repository octo\/guards, expected octo\/other/],
    ['wrong workflow', { ...SIGNER, workflow: 'octo/guards/.github/workflows/other.yml' }, /built by workflow octo\/guards\/.github\/workflows\/release.yml, expected octo\/guards\/.github\/workflows\/other.yml/],
    ['wrong issuer', { ...SIGNER, issuer: 'https://accounts.google.com' }, /signed through issuer https:\/\/token.actions.githubusercontent.com, expected https:\/\/accounts.google.com/],
    ['wrong ref', { ...SIGNER, ref: 'refs/heads/main' }, /built from ref refs\/tags\/v1.0.0, expected refs\/heads\/main/],
    [
      'a regex-looking identity (compared literally)',
      { issuer: GITHUB_ISSUER, identity: 'https://github.com/octo/.*' },
      /signed by https:\/\/github.com\/octo\/guards\/.github\/workflows\/release.yml@refs\/tags\/v1.0.0, expected exactly https:\/\/github.com\/octo\/\.\*/,
    ],
    [
      'an identity_regex that matches only a prefix (anchored)',
      { issuer: GITHUB_ISSUER, identity_regex: 'https://github.com/octo/guards/' },
      /does not match identity_regex/,
    ],
  ];
  for (const [what, signer, pattern] of identityCases) {
    it(what, async () => {
      const { url } = await signedRelease();
      const s = setup({ url, signer });
      const r = await s.run('guard', 'lock');
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(pattern);
    });
  }

  it('an identity_regex that matches the whole identity is accepted', async () => {
    const { url } = await signedRelease();
    const s = setup({ url, signer: { issuer: GITHUB_ISSUER, identity_regex: 'https://github\\.com/octo/guards/\\.github/workflows/release\\.yml@refs/tags/v.*' } });
    expect((await s.run('guard', 'lock')).code).toBe(0);
  });

  it('a DSSE bundle for another artifact', async () => {
    const other = await sigstore.sign(Buffer.from('another artifact'), { repository: 'octo/guards' });
    const url = gh.publish('octo/guards', 'v1.0.0', `swapped-${++n}.wasm`, variant('swapped'), { sidecar: other });
    const s = setup({ url, signer: SIGNER });
    const r = await s.run('guard', 'lock');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/the attestation is for another artifact/);
  });

  it('a foreign trust root, and one that expired before the signature', async () => {
    const { url } = await signedRelease();
    const foreign = await testSigstore();
    foreign.close();
    const foreignFile = join(tempDir(), 'foreign.json');
    writeFileSync(foreignFile, JSON.stringify(foreign.trustedRoot));
    const r1 = await setup({ url, signer: SIGNER, trusted_root: foreignFile }).run('guard', 'lock');
    expect(r1.code).toBe(6);
    expect(r1.stderr).toMatch(/guard "g": signature does not verify/);

    const expired = JSON.parse(JSON.stringify(sigstore.trustedRoot)) as Record<string, { validFor: { start: string; end?: string } }[]>;
    const end = new Date(Date.now() - 60_000).toISOString();
    for (const ca of expired.certificateAuthorities!) ca.validFor.end = end;
    const expiredFile = join(tempDir(), 'expired.json');
    writeFileSync(expiredFile, JSON.stringify(expired));
    const r2 = await setup({ url, signer: SIGNER, trusted_root: expiredFile }).run('guard', 'lock');
    expect(r2.code).toBe(6);
    expect(r2.stderr).toMatch(/signature does not verify/);
  });

  it('a tarball with ../ entries, and a valid package', async () => {
    const { packTar } = await import('../helpers/tar.ts');
    const evil = await packTar([
      { name: 'guard.json', data: '{"name":"x","version":"1","abi":"gh-aw-mcpg/1"}' },
      { name: '../../etc/evil', data: 'x' },
      { name: 'guard.wasm', data: GUARD },
    ]);
    const s1 = setup({ url: gh.publish('octo/guards', 'v1.0.0', `evil-${++n}.tar.gz`, evil), unsigned: true, sha256: sha(evil) });
    const r1 = await s1.run('guard', 'lock');
    expect(r1.code).toBe(6);
    expect(r1.stderr).toMatch(/bad guard package: entry "..\/..\/etc\/evil" points outside the package/);

    const good = await packTar([
      { name: 'guard.json', data: '{"name":"allow-list","version":"1.0.0","abi":"gh-aw-mcpg/1"}' },
      { name: 'guard.wasm', data: GUARD },
    ]);
    const s2 = setup({ url: gh.publish('octo/guards', 'v1.0.0', `good-${++n}.tar.gz`, good), unsigned: true, sha256: sha(good) });
    expect((await s2.run('guard', 'lock')).code).toBe(0);
    expect(s2.lock().guards.g).toMatchObject({ wasm_sha256: sha(GUARD) });
    const gw = await startGateway(s2.config, ['--frozen'], s2.env);
    try {
      expect((await gw.call('t___echo', { text: 'packaged' })).text).toBe('t: packaged');
    } finally {
      await gw.close();
    }
  });

  it('an oversized asset', async () => {
    const url = gh.publish('octo/guards', 'v1.0.0', `huge-${++n}.wasm`, GUARD, { claimSize: 200 * 1024 * 1024 });
    const r = await setup({ url, unsigned: true, sha256: sha(GUARD) }).run('guard', 'lock');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/209715200 bytes, over the 67108864-byte size cap/);
  });

  it('plain http to a host that is not loopback', async () => {
    const r = await setup({ url: 'http://example.com/g.wasm', unsigned: true, sha256: sha(GUARD) }).run('guard', 'lock');
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/refused: only https:\/\/ URLs are fetched/);
  });

  it('run --frozen refuses a guard missing from the lock and names the fix', async () => {
    const { url } = await signedRelease();
    const s = setup({ url, signer: SIGNER });
    const r = await s.run('run', '--frozen');
    expect(r.code).toBe(6);
    expect(r.stderr.trim()).toBe('mcpg: guard "g": it is not in guards.lock; run `mcpg guard lock g`');
    expect(readdirSync(s.dir)).not.toContain('guards.lock');
  });
});

describe("GitHub's private Sigstore instance (no transparency log, no SCTs, a timestamp)", () => {
  it('verifies against a trusted root that has no logs, and not against one that has them', async () => {
    const github = await testSigstore({ privateInstance: true });
    try {
      const bytes = variant('private-instance');
      const url = gh.publish('octo/guards', 'v1.0.0', `priv-${++n}.wasm`, bytes, { sidecar: await github.sign(bytes, { repository: 'octo/guards' }) });
      const rootOfGitHub = join(tempDir(), 'github-root.json');
      writeFileSync(rootOfGitHub, JSON.stringify(github.trustedRoot));
      expect((await setup({ url, signer: SIGNER, trusted_root: rootOfGitHub }).run('guard', 'lock')).code).toBe(0);
      // The same bundle against a root with logs: a missing tlog entry is not excused there.
      const withLogs = JSON.parse(JSON.stringify(sigstore.trustedRoot)) as Record<string, unknown>;
      withLogs.certificateAuthorities = (github.trustedRoot as Record<string, unknown>).certificateAuthorities;
      withLogs.timestampAuthorities = (github.trustedRoot as Record<string, unknown>).timestampAuthorities;
      const mixed = join(tempDir(), 'mixed-root.json');
      writeFileSync(mixed, JSON.stringify(withLogs));
      const r = await setup({ url, signer: SIGNER, trusted_root: mixed }).run('guard', 'lock');
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/signature does not verify/);
    } finally {
      github.close();
    }
  });
});

describe('a real public-good bundle', () => {
  const bundle = join(ROOT, 'test/fixtures/public-good/oci-attestation.sigstore.json');
  const digest = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
  it('verifies against the trusted root shipped in mcpg, offline', async () => {
    const r = await mcpgAsync(['attest', 'verify-bundle', '--bundle', bundle, '--certificate-identity', 'cody@soyland.com', '--certificate-oidc-issuer', 'https://github.com/login/oauth', digest]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
  it('fails for another identity or another digest', async () => {
    const r1 = await mcpgAsync(['attest', 'verify-bundle', '--bundle', bundle, '--certificate-identity', 'someone@else.com', '--certificate-oidc-issuer', 'https://github.com/login/oauth', digest]);
    expect(r1.code).toBe(6);
    expect(r1.stderr).toMatch(/signed by cody@soyland.com, expected exactly someone@else.com/);
    const r2 = await mcpgAsync(['attest', 'verify-bundle', '--bundle', bundle, '--certificate-identity', 'cody@soyland.com', '--certificate-oidc-issuer', 'https://github.com/login/oauth', `sha256:${'0'.repeat(64)}`]);
    expect(r2.code).toBe(6);
    expect(r2.stderr).toMatch(/another artifact/);
  });
});
