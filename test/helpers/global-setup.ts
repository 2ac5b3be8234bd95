import { execFileSync } from 'node:child_process';
import { buildGuards } from '../../scripts/build-guards.mjs';

/**
 * The end-to-end tests drive the real bundle (or the binary named by MCPG_BIN) and the sample
 * guards compiled from source (cached by source hash): build both once.
 */
export default async function setup(): Promise<void> {
  if (!process.env.MCPG_BIN) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  await buildGuards();
}
