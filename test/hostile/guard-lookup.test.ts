// A guard's failed lookup decides one call and is never remembered as a verdict: the three
// repo-visibility twins (built from source) see their backend fail mid-call (as when the server
// is killed with calls in flight), label that call private (fail closed), and label the same
// public repository public on the next calls once the backend answers again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitsSchema } from '../../src/config/schema.ts';
import type { BackendCall } from '../../src/guard/guard.ts';
import { WasmGuard, compileGuard } from '../../src/guard/wasm-guard.ts';
import { McpgError } from '../../src/shared/errors.ts';
import { configureLog } from '../../src/shared/log.ts';
import { ROOT } from '../helpers/mcpg.ts';

configureLog({ writer: () => {} });
const POLICY = { 'allow-only': { repos: 'public', 'min-integrity': 'none' } };

describe('a failed lookup is not a verdict', () => {
  for (const twin of ['repo-visibility', 'repo-visibility-go', 'repo-visibility-rust']) {
    it(`${twin}: private while the backend is down, public again once it answers`, async () => {
      const limits = limitsSchema.parse({});
      const guard = new WasmGuard(twin, await compileGuard(twin, readFileSync(join(ROOT, 'dist/guards', `${twin}.wasm`)), limits), limits);
      let down = true;
      const backend: BackendCall = async (tool) => {
        if (down) throw new McpgError('BACKEND_UNAVAILABLE', 'server "github" exited during tools/call; it restarts on next use');
        if (tool !== 'search_repositories') return { content: [{ type: 'text', text: '{}' }] };
        return { content: [{ type: 'text', text: JSON.stringify({ items: [{ full_name: 'octo/public', private: false }] }) }] };
      };
      await guard.labelAgent(POLICY, backend);
      const label = async () => (await guard.labelResource('get_file_contents', { owner: 'octo', repo: 'public', path: 'README.md' }, backend)).resource.secrecy;
      expect(await label()).toEqual(['private:octo/public']);
      down = false;
      // Every instance of the pool, each call: the outage is not remembered anywhere.
      for (let i = 0; i < 10; i++) expect(await label()).toEqual([]);
    });
  }
});
