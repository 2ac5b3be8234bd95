// The MCP project's conformance suite (@modelcontextprotocol/conformance), client side: each
// scenario's server is reached by an agent through mcpg as a streamable HTTP backend
// (test/fixtures/conformance/client.ts), and every check the suite makes must pass.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, mcpgCommand, tempDir } from '../helpers/mcpg.ts';

const CLI = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

/** Client scenarios that cannot apply to a gateway, and why. */
const NOT_APPLICABLE: Record<string, string> = {
  // Enterprise-managed authorization: the client exchanges an identity provider's ID token for an
  // ID-JAG (RFC 8693) and that for an access token (RFC 7523). It needs the user's IdP session,
  // which an agent's gateway does not hold; mcpg has no IdP login to start it from.
  'auth/cross-app-access-complete-flow': 'needs an identity-provider session (enterprise-managed authorization extension)',
};

async function scenarios(): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'list']);
  const client = stdout.slice(stdout.indexOf('Client scenarios'));
  return [...client.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]!);
}

interface Check {
  id: string;
  status: string;
  description: string;
}

async function run(scenario: string): Promise<{ code: number; checks: Check[]; output: string }> {
  const out = tempDir();
  const { command, args } = mcpgCommand();
  const agent = `${process.execPath} ${join(FIXTURES, 'conformance/client.ts')}`;
  const env = { ...process.env, MCPG_COMMAND: JSON.stringify([command, ...args]) };
  const result = await promisify(execFile)(process.execPath, [CLI, 'client', '--command', agent, '--scenario', scenario, '-o', out], { env, maxBuffer: 32 << 20 }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
  // Results land in OUT/<scenario>-<time>/checks.json ("auth/…" scenarios one folder deeper).
  const file = readdirSync(out, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('checks.json'));
  const checks = file ? (JSON.parse(readFileSync(join(out, file), 'utf8')) as Check[]) : [];
  return { ...result, checks };
}

describe('MCP conformance suite, client scenarios, through mcpg', () => {
  it('passes every check of every scenario that applies to a client behind a gateway', { timeout: 300_000 }, async () => {
    const all = await scenarios();
    expect(all).toContain('auth/scope-step-up');
    const todo = all.filter((s) => !(s in NOT_APPLICABLE));
    const failed: string[] = [];
    let passed = 0;
    // A few at a time: each scenario runs an agent, `mcpg auth login` and `mcpg run`.
    for (let i = 0; i < todo.length; i += 4) {
      await Promise.all(
        todo.slice(i, i + 4).map(async (scenario) => {
          const r = await run(scenario);
          const bad = r.checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
          if (r.code !== 0 || bad.length || !r.checks.length) failed.push(`${scenario}: exit ${r.code}; ${bad.map((c) => `${c.status} ${c.id}: ${c.description}`).join('; ')}\n${r.output.slice(-3000)}`);
          else passed += r.checks.length;
        }),
      );
    }
    expect(failed, failed.join('\n\n')).toEqual([]);
    expect(passed).toBeGreaterThan(200);
  });
});
