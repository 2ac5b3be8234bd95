// `mcpg guard test`: a table of cases against one compiled guard; `guard call`: the guard's own JSON.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, mcpg, tempDir } from '../helpers/mcpg.ts';

const GUARD = join(ROOT, 'dist/guards/repo-visibility.wasm');
const search = (priv: boolean) => ({ content: [{ type: 'text', text: JSON.stringify({ items: [{ full_name: 'octo/r', private: priv }] }) }] });

describe('mcpg guard test', () => {
  it('runs every case in one process, prints a table and a diff for each failure, exits 5 on any', () => {
    const cases = join(tempDir(), 'cases.toml');
    writeFileSync(
      cases,
      `policy = { allow-only = { repos = "public", min-integrity = "none" } }

[backend]
search_repositories = { content = [{ type = "text", text = '${search(true).content[0]!.text}' }] }

[[case]]
name = "the agent's labels"
fn = "label_agent"
expect = { agent = { secrecy = [], integrity = [] } }

[[case]]
name = "a private repository is secret"
fn = "label_resource"
input = { tool_name = "list_issues", tool_args = { owner = "octo", repo = "r" } }
expect = { resource = { description = "list_issues on octo/r", secrecy = ["private:octo/r"], integrity = ["contributor", "maintainer"] }, operation = "read" }

[[case]]
name = "a wrong expectation"
fn = "label_resource"
input = { tool_name = "create_issue", tool_args = { owner = "octo", repo = "r" } }
expect = { resource = { description = "create_issue on octo/r", secrecy = [], integrity = ["contributor"] }, operation = "write", response = "resource" }

[[case]]
name = "an unreadable policy is an error"
fn = "label_agent"
input = { allow-only = { repos = "mine", min-integrity = "none" } }
expect_error = "allow-only.repos"
`,
    );
    const r = mcpg(['guard', 'test', GUARD, cases]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(5);
    expect(r.stdout.split('\n').filter((l) => /^(PASS|FAIL) /.test(l))).toEqual([
      "PASS  the agent's labels",
      'PASS  a private repository is secret',
      'FAIL  a wrong expectation',
      'PASS  an unreadable policy is an error',
    ]);
    expect(r.stdout).toMatch(/\+ {5}"secrecy": \[\n {6}\+ {7}"private:octo\/r"\n {6}\+ {5}\]\n {6}- {5}"secrecy": \[\]/);
    expect(r.stdout.trim().split('\n').pop()).toBe('3 passed, 1 failed');
  });
});

describe('mcpg guard call', () => {
  it("prints the guard's own JSON; label_agent takes its policy as --input; --normalized shows mcpg's view", () => {
    const agent = mcpg(['guard', 'call', GUARD, 'label_agent', '--input', '{"allow-only":{"repos":"all","min-integrity":"approved"}}']);
    expect(agent.stderr).toBe('');
    expect(JSON.parse(agent.stdout)).toEqual({ agent: { secrecy: ['private:*'], integrity: ['contributor'] } });
    const normalized = mcpg(['guard', 'call', GUARD, 'label_agent', '--normalized', '--input', '{"allow-only":{"repos":"all","min-integrity":"approved"}}']);
    expect(JSON.parse(normalized.stdout)).toEqual({ agent: { secrecy: ['private:*'], integrity: ['contributor'] } });
    const none = mcpg(['guard', 'call', GUARD, 'label_response', '--policy', '{"allow-only":{"repos":"public","min-integrity":"none"}}', '--input', '{"tool_name":"get_issue","tool_args":{}}']);
    expect(none.stdout.trim()).toBe('null');
    expect(JSON.parse(mcpg(['guard', 'call', GUARD, 'label_response', '--normalized', '--policy', '{"allow-only":{"repos":"public","min-integrity":"none"}}', '--input', '{"tool_name":"get_issue","tool_args":{}}']).stdout)).toEqual({ kind: 'whole' });
  });
});
