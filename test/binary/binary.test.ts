// Runs in the binary pass only (MCPG_BIN=dist/mcpg; see scripts/test.mjs).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureServer, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

const bin = resolve(process.env.MCPG_BIN ?? 'dist/mcpg');

describe('the single executable', () => {
  it('runs with no Node.js on PATH and an empty environment', () => {
    const r = spawnSync(bin, ['--version'], { env: { PATH: '' }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(r.stderr).toBe('');
  });

  it('embeds what it needs: the public-good trusted root and the guard ABI checks work offline', () => {
    const r = spawnSync(bin, ['guard', 'inspect', resolve('dist/guards/allow-list.wasm')], { env: { PATH: '' }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ABI: ok/);
    expect(r.stderr).not.toMatch(/Warning/);
    // The bundle's code cache fits the Node inside (src/sea.ts warns when V8 refuses it).
    expect(r.stderr).not.toMatch(/code cache/);
  });

  it('serves a gateway session on the code cache it was built with', async () => {
    // src/sea.ts sets a gateway's V8 tiering flags after the bundle is compiled: set before, V8
    // would refuse the cache (made under the default flags) and say so on stderr.
    const gateway = await startGateway(writeConfig(tempDir(), { mcpServers: { t: fixtureServer('tools.ts') } }));
    try {
      for (let i = 0; i < 300; i++) expect((await gateway.call('t___add', { a: i, b: 1 })).text).toBe(String(i + 1));
      expect(gateway.stderr()).not.toMatch(/code cache|Warning/);
    } finally {
      await gateway.close();
    }
  });
});
