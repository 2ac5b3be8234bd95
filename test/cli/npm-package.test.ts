// The npm package (`npx -y mcpg …`): packed, installed from the tarball into an empty folder with
// no network (the bundle depends on nothing), and run on Node 24; on an older Node, one line.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, fixtureServer, tempDir, writeConfig } from '../helpers/mcpg.ts';

/** A Node older than 24 on this machine's PATH (outside node_modules), if there is one. */
function olderNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const node = join(dir, 'node');
    if (dir.includes('node_modules') || !existsSync(node)) continue;
    const v = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
    if (Number(v.split('.')[0]) < 24) return node;
  }
  return undefined;
}

describe('the npm package', () => {
  it('installs from its tarball into an empty folder offline, runs, and tells an old Node what it needs', { timeout: 120_000 }, () => {
    const dir = tempDir();
    // dist/mcpg.cjs is built by the test setup: --ignore-scripts skips prepack's rebuild.
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    const app = join(dir, 'app');
    const install = spawnSync('npm', ['install', '--prefix', app, tarball, '--offline', '--no-audit', '--no-fund'], { encoding: 'utf8' });
    expect(install.status, install.stderr).toBe(0);
    const installed = join(app, 'node_modules/mcpg');
    expect(readdirSync(installed).sort()).toEqual(['README.md', 'bin', 'dist', 'package.json']);
    const bin = join(app, 'node_modules/.bin/mcpg');
    const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const config = writeConfig(tempDir(), { mcpServers: { s: fixtureServer('tools.ts', 's') } });
    expect(spawnSync(process.execPath, [bin, 'config', 'check', config], { encoding: 'utf8' }).stdout).toMatch(/ok/);
    const old = olderNode();
    if (old) {
      const r = spawnSync(old, [bin, '--version'], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^mcpg: needs Node\.js 24 or newer \(this is v\d+/);
    }
  });
});
