import { execFileSync } from 'node:child_process';

/** The end-to-end tests drive the real bundle (or the binary named by MCPG_BIN): build it once. */
export default function setup(): void {
  if (!process.env.MCPG_BIN) execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}
