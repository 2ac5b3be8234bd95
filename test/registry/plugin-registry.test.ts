import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parseIndex, pick } from '../../src/registry/index.ts';
import { FIXTURES, ROOT, mcpgAsync, startGateway, tempDir } from '../helpers/mcpg.ts';
import { releaseWorld } from '../helpers/release-world.ts';

const index = JSON.parse(readFileSync(join(ROOT, 'registry/index.json'), 'utf8')) as unknown;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('registry/index.json', () => {
  it('is valid, and each latest version pins the digest of the guard built from source here', () => {
    const parsed = parseIndex(index, 'registry/index.json');
    for (const name of Object.keys(parsed.guards)) {
      const latest = pick(parsed, name);
      expect(latest.sha256, `${name}: update registry/index.json after changing the guard`).toBe(sha(readFileSync(join(ROOT, 'dist/guards', `${name}.wasm`))));
    }
  });

  it('follows registry/index.schema.json, which a listing PR is checked by, and mcpg reads it by the same rules', () => {
    const ajv = new Ajv2020({ allErrors: true });
    addFormats.default(ajv);
    const valid = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'registry/index.schema.json'), 'utf8')) as object);
    expect(valid(index), ajv.errorsText(valid.errors)).toBe(true);
    // A listing with a broken field: the schema and mcpg both refuse it, and name the field.
    const entry = { description: 'd', repository: 'you/my-guard', signer: { issuer: 'i' }, versions: { '1.0.0': { url: 'https://x/g.wasm', sha256: 'a'.repeat(64) } } };
    const broken: [unknown, RegExp][] = [
      [{ ...entry, versions: { v1: entry.versions['1.0.0'] } }, /guards\.weather\.versions\.v1/],
      [{ ...entry, versions: { '1.0.0': { url: 'https://x/g.wasm', sha256: 'A1' } } }, /guards\.weather\.versions\.1\.0\.0\.sha256/],
      [{ ...entry, signer: undefined }, /guards\.weather\.signer/],
    ];
    expect(valid({ version: 1, guards: { weather: entry } })).toBe(true);
    for (const [listing, field] of broken) {
      const withIt = JSON.parse(JSON.stringify({ version: 1, guards: { weather: listing } })) as unknown;
      expect(valid(withIt)).toBe(false);
      expect(() => parseIndex(withIt, 'registry/index.json')).toThrow(field);
    }
  });

  it('picks the highest version in a range and names what exists when none matches', () => {
    const parsed = parseIndex(
      {
        version: 1,
        guards: {
          g: {
            description: 'd',
            repository: 'o/r',
            signer: { issuer: 'i' },
            versions: { '1.2.0': { url: 'https://x/1', sha256: 'a'.repeat(64) }, '1.10.1': { url: 'https://x/2', sha256: 'b'.repeat(64) }, '2.0.0': { url: 'https://x/3', sha256: 'c'.repeat(64) } },
          },
        },
      },
      't',
    );
    expect(pick(parsed, 'registry:g@^1').version).toBe('1.10.1');
    expect(pick(parsed, 'g@1.2').version).toBe('1.2.0');
    expect(pick(parsed, 'g').version).toBe('2.0.0');
    expect(() => pick(parsed, 'g@^3')).toThrow(/no version of g matches \^3 \(there are 1.2.0, 1.10.1, 2.0.0\)/);
    expect(() => pick(parsed, 'nope')).toThrow(/no guard named "nope"/);
  });

  it('mcpg registry list and info read the built-in index', async () => {
    const list = await mcpgAsync(['registry', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^repo-visibility@1.0.0 {2}Labels GitHub MCP tools/m);
    const info = await mcpgAsync(['registry', 'info', 'repo-visibility']);
    expect(info.stdout).toMatch(/signer:\n {2}repository: mcpg-dev\/mcpg/);
  });
});

describe('mcpg guard add NAME@RANGE --server SERVER', () => {
  const world = releaseWorld();

  /** allow-list published as v0.1.0 of mcpg-dev/mcpg, signed, in a registry index of its own. */
  async function published(versions: (url: string, sha256: string) => Record<string, { url: string; sha256: string; yanked?: string }>) {
    const wasm = readFileSync(join(ROOT, 'dist/guards/allow-list.wasm'));
    const bundle = await world.sigstore.sign(wasm, { repository: 'mcpg-dev/mcpg', workflow: 'mcpg-dev/mcpg/.github/workflows/release.yml' });
    const url = world.gh.publish('mcpg-dev/mcpg', 'v0.1.0', 'allow-list.wasm', wasm, { sidecar: bundle });
    const dir = tempDir();
    const registry = join(dir, 'index.json');
    const test = parseIndex(index, 'index');
    const write = (v: ReturnType<typeof versions>) => {
      test.guards['allow-list']!.versions = v;
      writeFileSync(registry, JSON.stringify(test));
    };
    write(versions(url, sha(wasm)));
    const root = join(dir, 'root.json');
    writeFileSync(root, JSON.stringify(world.sigstore.trustedRoot));
    const env = { ...world.gh.env, MCPG_CACHE_DIR: join(dir, 'cache') };
    return { wasm, url, dir, registry, root, env, write };
  }

  it('edits the config keeping its comments, locks the concrete release, and the gateway runs it', async () => {
    const { wasm, url, dir, registry, root, env } = await published((url, sha256) => ({
      '1.0.0': { url, sha256 },
      '1.1.0': { url: `${url}.missing`, sha256: 'f'.repeat(64) },
    }));
    const config = join(dir, 'mcpg.toml');
    const original = `# my gateway
[gateway]
mode = "filter"  # keep this comment

[servers.t]
command = ${JSON.stringify(process.execPath)}
args = [${JSON.stringify(join(FIXTURES, 'servers/tools.ts'))}, "t"]
# the guard goes here
`;
    writeFileSync(config, original);
    const flags = ['--config', config, '--registry', registry, '--trusted-root', root];

    const bad = await mcpgAsync(['guard', 'add', 'allow-list@^3', '--server', 't', ...flags], env);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/no version of allow-list matches \^3/);
    expect(readFileSync(config, 'utf8')).toBe(original);
    // A transaction: with no network (and nothing cached) nothing is written at all.
    const offline = await mcpgAsync(['guard', 'add', 'allow-list@~1.0', '--server', 't', '--offline', ...flags], env);
    expect(offline.code).toBe(6);
    expect(offline.stderr).toMatch(/--offline forbids fetching it/);
    expect(readFileSync(config, 'utf8')).toBe(original);
    expect(existsSync(join(dir, 'guards.lock'))).toBe(false);
    // A name that would write another table into the TOML is refused.
    const injected = await mcpgAsync(['guard', 'add', 'allow-list@~1.0', '--server', 't', '--name', 'x]\n[servers.evil]\ncommand = "sh"\n#', ...flags], env);
    expect(injected.code).toBe(2);
    expect(injected.stderr).toMatch(/is not a guard name/);
    expect(readFileSync(config, 'utf8')).toBe(original);

    const r = await mcpgAsync(['guard', 'add', 'allow-list@~1.0', '--server', 't', ...flags], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/error/);
    // Verified against its registry signer: no "has no signer" warning.
    expect(r.stderr).not.toMatch(/warning/);
    const edited = readFileSync(config, 'utf8');
    expect(edited).toContain('mode = "filter"  # keep this comment');
    expect(edited).toContain('# the guard goes here\nguard = "allow-list"');
    expect(edited).toMatch(/\[guards\.allow-list\]\nsource = "registry:allow-list@~1\.0"\n$/);
    const lock = JSON.parse(readFileSync(join(dir, 'guards.lock'), 'utf8')) as { guards: Record<string, Record<string, unknown>> };
    expect(lock.guards['allow-list']).toMatchObject({
      source: 'registry:allow-list@~1.0',
      url,
      sha256: sha(wasm),
      signer: { repository: 'mcpg-dev/mcpg', workflow: 'mcpg-dev/mcpg/.github/workflows/release.yml' },
    });

    expect((await mcpgAsync(['guard', 'verify', '--frozen', '--offline', ...flags], env)).code).toBe(0);
    const gw = await startGateway(config, ['--frozen', '--registry', registry, '--trusted-root', root], env);
    try {
      // The allow-list guard with no policy allows nothing: proof that it labels the server now.
      const denied = await gw.call('t___echo', { text: 'x' });
      expect(denied.isError).toBe(true);
      expect(denied.text).toMatch(/allow-list:never/);
    } finally {
      await gw.close();
    }
  });

  it('never locks a yanked version, fails verify on one already locked, and lists what is newer', async () => {
    const { url, dir, registry, root, env, write } = await published((url, sha256) => ({
      '1.0.0': { url, sha256 },
      '1.1.0': { url: `${url}.missing`, sha256: 'f'.repeat(64), yanked: 'labels private repositories as public' },
    }));
    const config = join(dir, 'mcpg.toml');
    const server = `[servers.t]\ncommand = "x"\nguard = "g"\n`;
    const flags = ['--config', config, '--registry', registry, '--trusted-root', root];
    writeFileSync(config, `${server}\n[guards.g]\nsource = "registry:allow-list@~1.1"\n`);
    const refused = await mcpgAsync(['guard', 'lock', ...flags], env);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(/allow-list@1\.1\.0 is yanked \(labels private repositories as public\), and no other version matches ~1\.1; widen the range/);
    // ^1 skips the yanked 1.1.0 for 1.0.0.
    writeFileSync(config, `${server}\n[guards.g]\nsource = "registry:allow-list@^1"\n`);
    expect((await mcpgAsync(['guard', 'lock', ...flags], env)).code).toBe(0);
    const outdated = JSON.parse((await mcpgAsync(['guard', 'outdated', '--json', ...flags], env)).stdout) as unknown[];
    expect(outdated).toEqual([{ guard: 'g', source: 'registry:allow-list@^1', locked: '1.0.0', yanked: null, in_range: '1.0.0', latest: '1.0.0' }]);
    // The registry yanks the locked version: CI fails, naming why and what to do.
    write({ '1.0.0': { url, sha256: sha(readFileSync(join(ROOT, 'dist/guards/allow-list.wasm'))), yanked: 'CVE-2026-0001' }, '1.2.0': { url: `${url}.next`, sha256: 'e'.repeat(64) } });
    const verify = await mcpgAsync(['guard', 'verify', '--offline', ...flags], env);
    expect(verify.code).toBe(6);
    expect(verify.stderr).toMatch(/guard "g": the locked version is yanked from the registry \(CVE-2026-0001\); run `mcpg guard lock --update g`/);
    const listed = await mcpgAsync(['guard', 'outdated', ...flags], env);
    expect(listed.stdout).toMatch(/^g: locked 1\.0\.0, newest in range 1\.2\.0, latest 1\.2\.0 \(locked version yanked: CVE-2026-0001; run `mcpg guard lock --update g`\)$/m);
  });
});
