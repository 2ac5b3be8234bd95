import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuards } from '../../scripts/build-guards.mjs';

/**
 * The end-to-end tests drive the real bundle (or the binary named by MCPG_BIN) and the sample
 * guards compiled from source (cached by source hash): build both once.
 */
export default async function setup(): Promise<void> {
  // mcpg's config dir (tokens, the cache key) is the tests' own, never the user's.
  process.env.XDG_CONFIG_HOME = mkdtempSync(join(tmpdir(), 'mcpg-config-'));
  if (!process.env.MCPG_BIN) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  await buildGuards();
}
