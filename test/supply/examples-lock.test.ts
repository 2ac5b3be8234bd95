import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, mcpgAsync, tempDir } from '../helpers/mcpg.ts';

describe("the repository's guards.lock", () => {
  it('pins the guards of examples/ (built from source here) and verifies frozen, offline', async () => {
    const r = await mcpgAsync(['guard', 'verify', '--frozen', '--offline', '--config', join(ROOT, 'examples/mcpg.toml')], {
      MCPG_CACHE_DIR: tempDir(),
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/guards.lock: 1 guards verified/);
  });
});
