import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuards } from '../../scripts/build-guards.mjs';

/**
 * The end-to-end tests drive the real bundle (or the binary named by MCPG_BIN) and the sample
 * guards compiled from source (cached by source hash): build both once.
 */
export default async function setup(): Promise<() => void> {
  // Every temporary directory of the run (the tests' own, their gateways' and servers') under
  // one, removed when the run ends: a run makes about 1,800 of them.
  const scratch = mkdtempSync(join(tmpdir(), 'mcpg-tests-'));
  process.env.TMPDIR = scratch;
  // mcpg's config dir (tokens, the cache key) is the tests' own, never the user's.
  process.env.XDG_CONFIG_HOME = mkdtempSync(join(tmpdir(), 'mcpg-config-'));
  if (!process.env.MCPG_BIN) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  await buildGuards();
  return () => rmSync(scratch, { recursive: true, force: true });
}
