// The GitHub Action's script (action/verify.mjs) against the fake GitHub: it installs the pinned
// release for this runner, checks its provenance with `gh attestation verify` (gh cannot reach
// GitHub from here: a stand-in records its arguments and answers as told), runs
// `mcpg guard verify --frozen --json` and writes the job summary.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, fakeGitHub } from '../helpers/fake-github.ts';
import { ROOT, fixtureServer, mcpg, tempDir, writeConfig } from '../helpers/mcpg.ts';

let gh: FakeGitHub;
beforeAll(async () => {
  gh = await fakeGitHub();
  // The release asset: this build of mcpg, as the runner will run it.
  gh.publish('mcpg-dev/mcpg', 'v9.9.9', `mcpg-linux-${process.arch}`, Buffer.from(`#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/mcpg.cjs')}" "$@"\n`));
});
afterAll(() => gh?.close());

/** Runs the action's script; asynchronously, so the fake GitHub in this process can answer it. */
async function action(config: string, ghExit: number) {
  const dir = tempDir();
  const bin = join(dir, 'bin');
  const calls = join(dir, 'gh-calls');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'gh'), `#!/bin/sh\necho "$@" >> "${calls}"\nexit ${ghExit}\n`);
  chmodSync(join(bin, 'gh'), 0o755);
  const summary = join(dir, 'summary.md');
  const child = spawn(process.execPath, [join(ROOT, 'action/verify.mjs')], {
    env: { ...process.env, ...gh.env, PATH: `${bin}:${process.env.PATH}`, INPUT_VERSION: 'v9.9.9', INPUT_CONFIG: config, RUNNER_TEMP: dir, GITHUB_STEP_SUMMARY: summary },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const r = { status, stderr };
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  return { ...r, dir, calls: read(calls), summary: read(summary) };
}

describe('the GitHub Action', () => {
  const dir = tempDir();
  const wasm = join(dir, 'guard.wasm');
  copyFileSync(join(ROOT, 'dist/guards/allow-list.wasm'), wasm);
  const config = writeConfig(dir, { mcpServers: { s: { ...fixtureServer('tools.ts'), guard: 'g' } }, guards: { g: { path: wasm } } });

  it('installs the pinned release, checks its provenance, verifies the guards and writes the summary', async () => {
    expect(mcpg(['guard', 'lock', '--config', config]).code).toBe(0);
    const r = await action(config, 0);
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls.trim()).toBe(
      `attestation verify ${join(r.dir, `mcpg-linux-${process.arch}`)} --repo mcpg-dev/mcpg --signer-workflow mcpg-dev/mcpg/.github/workflows/release.yml --source-ref refs/tags/v9.9.9`,
    );
    expect(r.summary).toMatch(/^### mcpg v9\.9\.9: guards verified$/m);
    expect(r.summary).toMatch(/^\| g \| path:guard\.wasm \| `[0-9a-f]{16}…` \| hash \| — \|$/m);
  });

  it('does not run a binary without valid provenance', async () => {
    const r = await action(config, 1);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/does not carry a valid build provenance attestation from mcpg-dev\/mcpg's release workflow at refs\/tags\/v9\.9\.9; not running it/);
    expect(r.summary).toBe('');
  });

  it('fails, with the problem in the summary, when the guards do not match the lock', async () => {
    copyFileSync(join(ROOT, 'dist/guards/repo-visibility.wasm'), wasm);
    const r = await action(config, 0);
    expect(r.status).toBe(6);
    expect(r.summary).toMatch(/guards do not match/);
    expect(r.summary).toMatch(/- \*\*g\*\*: .*has sha256 [0-9a-f]{64}, but guards\.lock says/);
  });
});
