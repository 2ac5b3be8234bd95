// A guard built the way gh-aw-mcpg's Rust github-guard is (test/fixtures/guards/ghaw-like, from
// source with Debian's Rust), through `mcpg run` in every mode: it sleeps on a rate-limited
// answer, makes 1,000 permission lookups that mcpg caps at 50 (the rest answered -1, and it falls
// back to author_association), answers -1 when its output does not fit, and reads the
// allow-only policy shape.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGuard } from '../../scripts/build-guards.mjs';
import { fakeGitHub } from '../helpers/fake-github.ts';
import { ROOT, type Session, readDecisions, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

// Built once per source (the binary pass runs this file again).
let GUARD: string;
beforeAll(async () => {
  GUARD = await buildGuard('ghaw-like', join(ROOT, 'test/fixtures/guards/ghaw-like'), 'rust');
}, 300_000);

async function gateway(mode: string, extra: object = {}, env: Record<string, string> = {}): Promise<Session & { audit: string }> {
  const audit = join(tempDir(), 'audit.jsonl');
  const config = writeConfig(tempDir(), {
    gateway: { mode },
    mcpServers: { github: { command: process.execPath, args: [join(ROOT, 'test/fixtures/servers/github-ghaw.ts')], guard: 'gh' } },
    // The policy as gh-aw-mcpg users write it: a JSON string.
    // A 1,000-item list with 1,000 lookups is more work than the default fuel (about 100 ms) allows.
    guards: { gh: { path: GUARD, policy: '{"allow-only": {"repos": "public", "min-integrity": "approved"}}', limits: { fuel: 3_000_000_000 }, ...extra } },
  });
  return Object.assign(await startGateway(config, ['--audit-log', audit, '--log-level', 'debug'], env), { audit });
}

const titles = (r: { text: string }) => (JSON.parse(r.text.split('\n')[0]!) as { title: string }[]).map((i) => i.title);
const expected = [...Array.from({ length: 10 }, (_, i) => `issue ${i}`), ...Array.from({ length: 50 }, (_, i) => `issue ${950 + i}`)];

describe('a gh-aw-mcpg-style Rust guard through mcpg run', () => {
  it('filter: sleeps out the rate limit, 50 permission calls then -1 and its fallback, a 4 MiB answer buffer', async () => {
    const gw = await gateway('filter');
    try {
      const r = await gw.call('github___list_issues', { owner: 'octo', repo: 'public' });
      expect(r.isError, r.text).toBeFalsy();
      expect(titles(r)).toEqual(expected);
      expect(r.text).toMatch(/\[mcpg\] 940 of 1000 items withheld/);
      const calls = JSON.parse((await gw.call('github___calls')).text) as Record<string, number>;
      // Rate limited once, slept, asked again; label_response's 50 calls: one visibility check and
      // 49 permission lookups, not 1,000.
      expect(calls).toMatchObject({ search_repositories: 3, get_collaborator_permission: 49 });
      const line = readDecisions(gw.audit).find((l) => l.tool === 'list_issues')!;
      const backend = line.backend_calls as { tool: string; ok: boolean; refused?: string }[];
      expect(backend.filter((c) => c.tool === 'get_collaborator_permission' && c.ok)).toHaveLength(49);
      expect(backend.filter((c) => c.refused === 'over limits.backend_calls (50)')).toHaveLength(951);
      expect(gw.stderr()).toMatch(/rate limited \(attempt 1\), backing off/);
    } finally {
      await gw.close();
    }
  });

  it('strict: a list with withheld items is denied', async () => {
    const gw = await gateway('strict');
    try {
      const r = await gw.call('github___list_issues', { owner: 'octo', repo: 'public' });
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/lacks integrity tags the agent requires: approved/);
    } finally {
      await gw.close();
    }
  });

  it('propagate: the read passes and lowers the agent\'s integrity; a write needing approved is then denied', async () => {
    const gw = await gateway('propagate');
    try {
      expect(titles(await gw.call('github___list_issues', { owner: 'octo', repo: 'public' }))).toHaveLength(1000);
      const write = await gw.call('github___create_issue', { owner: 'octo', repo: 'public', title: 'x' });
      expect(write.isError).toBe(true);
      expect(write.text).toMatch(/the agent lacks integrity tags the resource requires: approved/);
    } finally {
      await gw.close();
    }
  });

  it('host_tools: mcpg answers get_collaborator_permission from GitHub\'s REST API, the token to GitHub only, cached, audited', async () => {
    const gh = await fakeGitHub();
    const gw = await gateway('filter', { host_tools: ['get_collaborator_permission'] }, gh.env);
    try {
      const r = await gw.call('github___list_issues', { owner: 'octo', repo: 'public' });
      expect(titles(r)).toEqual(expected);
      const calls = JSON.parse((await gw.call('github___calls')).text) as Record<string, number>;
      // The server's own tool was never asked: mcpg answered 49 lookups from GitHub.
      expect(calls.get_collaborator_permission).toBeUndefined();
      const asked = gh.requests.filter((q) => q.path.includes('/collaborators/'));
      expect(asked).toHaveLength(49);
      expect(asked.every((q) => q.auth === `Bearer ${gh.token}`)).toBe(true);
      // Cached for the run: the same list again asks GitHub nothing more.
      await gw.call('github___list_issues', { owner: 'octo', repo: 'public' });
      expect(gh.requests.filter((q) => q.path.includes('/collaborators/'))).toHaveLength(49);
      const line = readDecisions(gw.audit).find((l) => l.tool === 'list_issues')!;
      expect((line.backend_calls as { tool: string; ok: boolean }[]).filter((c) => c.tool === 'get_collaborator_permission' && c.ok)).toHaveLength(49);
    } finally {
      await gw.close();
      gh.close();
    }
  });
});
