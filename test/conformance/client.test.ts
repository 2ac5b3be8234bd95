// The MCP project's conformance suite (@modelcontextprotocol/conformance, pinned in package.json),
// client side: each scenario's server is reached by an agent through mcpg as a streamable HTTP
// backend (test/fixtures/conformance/client.ts), at each spec version the scenario lists, and
// every check the suite makes must pass (a scenario with no successful check does not count).
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, mcpgCommand, tempDir } from '../helpers/mcpg.ts';

const CLI = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

/**
 * Client scenarios that cannot apply to a gateway, and why. The skills extension (SEP-2640) is
 * about the agent that loads skills: it lists them, reads SKILL.md and must check its digest and
 * size before using it; a gateway passes what a server offers on to that agent and loads none.
 */
const NOT_APPLICABLE: Record<string, string> = {
  'sep-2640-client-no-prefetch': 'skills are loaded (and verified) by the agent, not by a gateway',
  'sep-2640-client-verify-digest': 'skills are loaded (and verified) by the agent, not by a gateway',
  'sep-2640-client-verify-frontmatter': 'skills are loaded (and verified) by the agent, not by a gateway',
  'sep-2640-client-verify-size': 'skills are loaded (and verified) by the agent, not by a gateway',
};

/** Every client scenario with the spec versions it lists ("extension" for the extensions). */
async function scenarios(): Promise<{ name: string; version: string }[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'list']);
  const client = stdout.slice(stdout.indexOf('Client scenarios'), stdout.indexOf('Authorization server scenarios'));
  return [...client.matchAll(/^\s+- (\S+) \[([^\]]+)\]/gm)].flatMap((m) => m[2]!.split(',').map((version) => ({ name: m[1]!, version })));
}

interface Check {
  id: string;
  status: string;
  description: string;
}

async function run(scenario: string, version: string): Promise<{ code: number; checks: Check[]; output: string }> {
  const out = tempDir();
  const { command, args } = mcpgCommand();
  const agent = `${process.execPath} ${join(FIXTURES, 'conformance/client.ts')}`;
  const env = { ...process.env, MCPG_COMMAND: JSON.stringify([command, ...args]) };
  const result = await promisify(execFile)(process.execPath, [CLI, 'client', '--command', agent, '--scenario', scenario, ...(version === 'extension' ? [] : ['--spec-version', version]), '-o', out], { env, maxBuffer: 32 << 20 }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
  // Results land in OUT/<scenario>-<time>/checks.json ("auth/…" scenarios one folder deeper).
  const file = readdirSync(out, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('checks.json'));
  const checks = file ? (JSON.parse(readFileSync(join(out, file), 'utf8')) as Check[]) : [];
  return { ...result, checks };
}

describe('MCP conformance suite, client scenarios, through mcpg', () => {
  it('passes every check of every scenario that applies to a client behind a gateway, at every spec version it lists', { timeout: 600_000 }, async () => {
    const all = await scenarios();
    const names = new Set(all.map((s) => s.name));
    // The list names scenarios the suite has: a renamed or removed one is noticed here.
    expect(Object.keys(NOT_APPLICABLE).filter((n) => !names.has(n))).toEqual([]);
    expect(all.filter((s) => s.name === 'request-metadata').map((s) => s.version)).toEqual(['2026-07-28']);
    const todo = all.filter((s) => !(s.name in NOT_APPLICABLE));
    const failed: string[] = [];
    let passed = 0;
    // A few at a time: each scenario runs an agent, `mcpg auth login` and `mcpg run`.
    for (let i = 0; i < todo.length; i += 4) {
      await Promise.all(
        todo.slice(i, i + 4).map(async ({ name, version }) => {
          const r = await run(name, version);
          const bad = r.checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
          const shown = `${name} @${version}`;
          if (r.code !== 0 || bad.length || !r.checks.some((c) => c.status === 'SUCCESS')) failed.push(`${shown}: exit ${r.code}; ${bad.map((c) => `${c.status} ${c.id}: ${c.description}`).join('; ')}\n${r.output.slice(-3000)}`);
          else passed += r.checks.filter((c) => c.status === 'SUCCESS').length;
        }),
      );
    }
    expect(failed, failed.join('\n\n')).toEqual([]);
    expect(passed).toBeGreaterThan(700);
  });
});
