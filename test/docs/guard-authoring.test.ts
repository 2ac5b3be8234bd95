// Runs docs/guard-authoring.md: its sh blocks in order, in a fresh folder, with `mcpg` on PATH,
// GitHub played by the fake one and the SDK served as published (npm registry on 127.0.0.1). The release step (a tag pushed to GitHub) is what the fake
// GitHub and the test Sigstore stand in for; the gateway of `mcpg run` is driven by an MCP client.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, mcpgCommand, readAudit, startGateway, tempDir } from '../helpers/mcpg.ts';
import { releaseWorld } from '../helpers/release-world.ts';
import { type SdkRegistry, serveSdks } from '../helpers/sdk-registry.ts';

const doc = readFileSync(join(ROOT, 'docs/guard-authoring.md'), 'utf8');
const blocks = (lang: string) => [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);

describe('docs/guard-authoring.md, command by command', () => {
  const world = releaseWorld();
  let sdks: SdkRegistry;
  beforeAll(async () => {
    sdks = await serveSdks();
  });
  afterAll(() => sdks.close());

  it('builds a guard from the template, releases it signed, and a user locks, verifies and runs it', { timeout: 180_000 }, async () => {
    const work = tempDir();
    const bin = join(work, 'bin');
    mkdirSync(bin);
    const { command, args } = mcpgCommand();
    writeFileSync(join(bin, 'mcpg'), `#!/bin/sh\nexec ${[command, ...args].map((a) => JSON.stringify(a)).join(' ')} "$@"\n`);
    chmodSync(join(bin, 'mcpg'), 0o755);
    const root = join(work, 'trusted_root.json');
    writeFileSync(root, JSON.stringify(world.sigstore.trustedRoot));
    const env = {
      ...process.env,
      ...world.gh.env,
      PATH: `${bin}:${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`,
      MCPG_SRC: ROOT,
      MCPG_CACHE_DIR: join(work, 'cache'),
      npm_config_prefer_offline: 'true',
      npm_config_userconfig: sdks.npmrc,
    };
    // Not execFileSync: the fake GitHub in this process must keep answering.
    const sh = async (script: string, cwd: string) => (await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], { cwd, env })).stdout;

    const [build, tryIt, use] = blocks('sh');
    expect(build).toContain('npm run build');
    // From an empty folder: the template's lockfile pins the packed SDK (npm checks its integrity),
    // and `npm test` runs the native tests through the SDK's harness.
    const templateLock = JSON.parse(readFileSync(join(ROOT, 'registry/templates/assemblyscript/package-lock.json'), 'utf8')) as { packages: Record<string, { integrity: string }> };
    expect(templateLock.packages['node_modules/@mcpg-dev/guard-sdk']!.integrity, 'run scripts/registry-update.mjs after changing the SDK').toBe(sdks.npmIntegrity);
    const built = await sh(build!, work);
    expect(built).toMatch(/pass 2\n\S* fail 0/);
    const guardDir = join(work, 'my-guard');
    const wasm = readFileSync(join(guardDir, 'guard.wasm'));
    const tried = await sh(tryIt!, guardDir);
    expect(tried).toContain('PASS  a delete without its id is denied, not labeled');
    expect(tried).toContain('5 passed, 0 failed');
    expect(tried).toContain('ABI: ok');
    expect(JSON.parse(tried.slice(tried.indexOf('{\n')))).toEqual({
      resource: { description: 'get_weather', secrecy: [], integrity: [] },
      operation: 'read',
      response: 'resource',
    });

    // Step 3, the release: what the template's workflow uploads, signed by its identity.
    expect(readFileSync(join(guardDir, '.github/workflows/release.yml'), 'utf8')).toContain('actions/attest-build-provenance');
    const bundle = await world.sigstore.sign(wasm, { repository: 'you/my-guard', workflow: 'you/my-guard/.github/workflows/release.yml' });
    world.gh.publish('you/my-guard', 'v1.0.0', 'guard.wasm', wasm, { sidecar: bundle });

    // Step 4: the user's config, as written in the doc (GitHub and the server swapped for test ones).
    const userDir = join(work, 'user');
    mkdirSync(userDir);
    const toml = blocks('toml')[0]!
      .replace('https://github.com', world.gh.env.GITHUB_SERVER_URL!)
      .replace('command = "my-mcp-server"', `command = ${JSON.stringify(process.execPath)}\nargs = [${JSON.stringify(join(FIXTURES, 'servers/tools.ts'))}, "weather"]`)
      .replace('[guards.weather]', `[guards.weather]\ntrusted_root = ${JSON.stringify(root)}`);
    writeFileSync(join(userDir, 'mcpg.toml'), toml);
    const lines = use!.trim().split('\n');
    expect(lines.pop()).toBe('mcpg run --config mcpg.toml --frozen');
    await sh(lines.join('\n'), userDir);
    const lock = JSON.parse(readFileSync(join(userDir, 'guards.lock'), 'utf8')) as { guards: { weather: { signer: { repository: string } } } };
    expect(lock.guards.weather.signer.repository).toBe('you/my-guard');
    const audit = join(userDir, 'audit.jsonl');
    const gw = await startGateway(join(userDir, 'mcpg.toml'), ['--frozen', '--audit-log', audit], env as Record<string, string>);
    try {
      // The template labels echo a write with no tags: allowed, and labeled by the released guard.
      expect((await gw.call('weather___echo', { text: 'hi' })).text).toBe('weather: hi');
      expect(readAudit(audit)[0]).toMatchObject({ guard: 'weather', operation: 'write', decision: 'allow' });
    } finally {
      await gw.close();
    }

    // Step 5: the CI step is the same verify command.
    expect(blocks('yaml')[0]).toContain('run: mcpg guard verify --frozen --config mcpg.toml');
  });
});
