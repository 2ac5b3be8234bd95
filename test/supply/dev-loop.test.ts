// The guard author's loop: a local guard rebuilt after it was locked is locked again on the next
// run; --frozen (CI) refuses instead.
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, fixtureServer, mcpgRun, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

describe('local path guards', () => {
  it('are locked again when their bytes change, unless --frozen', async () => {
    const dir = tempDir();
    const wasm = join(dir, 'guard.wasm');
    copyFileSync(join(ROOT, 'dist/guards/allow-list.wasm'), wasm);
    const config = writeConfig(dir, { mcpServers: { s: { ...fixtureServer('tools.ts', 's'), guard: 'g' } }, guards: { g: { path: wasm, policy: { allow: ['echo'] } } } });
    const first = await startGateway(config);
    await first.close();
    const locked = JSON.parse(readFileSync(join(dir, 'guards.lock'), 'utf8')) as { guards: { g: { sha256: string } } };

    // A rebuild: other bytes at the same path.
    copyFileSync(join(ROOT, 'dist/guards/repo-visibility.wasm'), wasm);
    const frozen = await mcpgRun(config, ['--frozen']);
    expect(frozen.code).toBe(6);
    expect(frozen.stderr).toMatch(/guard "g": .* has sha256 [0-9a-f]{64}, but guards.lock says [0-9a-f]{64}/);

    const again = await startGateway(config, [], {});
    try {
      expect(again.stderr()).toMatch(/guard "g": .*guard\.wasm changed since it was locked \(sha256 [0-9a-f]{12}… → [0-9a-f]{12}…\); locking it again/);
      const relocked = JSON.parse(readFileSync(join(dir, 'guards.lock'), 'utf8')) as { guards: { g: { sha256: string } } };
      expect(relocked.guards.g.sha256).not.toBe(locked.guards.g.sha256);
    } finally {
      await again.close();
    }
  });
});
