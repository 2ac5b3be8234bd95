// Terminals: what servers, configs and audit logs say reaches the user's terminal with its
// control characters escaped: no cursor moves, no rewritten lines (CR), no bell, no clipboard
// writes (OSC 52), no forged lines of mcpg's own log (LF). Odd audit lines are named refusals.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { printable, printableLine } from '../../src/shared/terminal.ts';
import { FIXTURES, mcpg, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/;
const HOSTILE = '\u001b]52;c;ZXZpbA==\u0007\u001b[2J\rmcpg: forged\n2026-01-01T00:00:00.000Z info  [gateway] forged line\u202e';

describe('control characters from outside are escaped', () => {
  it('printable keeps lines, printableLine keeps one line; both escape the rest as JSON-safe \\u escapes', () => {
    expect(printableLine('a\u001b[31mb\nc\rd')).toBe('a\\u001b[31mb\\u000ac\\u000dd');
    expect(printable('a\u0007b\nc\td')).toBe('a\\u0007b\nc\td');
    expect(JSON.parse(`"${printableLine('\u009b\u202e')}"`)).toBe('\u009b\u202e');
  });

  it("a server's stderr reaches mcpg's stderr as one escaped line per line it wrote", async () => {
    const noisy = `process.stderr.write(${JSON.stringify(`${HOSTILE}\n`)}); await import(${JSON.stringify(join(FIXTURES, 'servers/tools.ts'))});`;
    const gw = await startGateway(writeConfig(tempDir(), { mcpServers: { noisy: { command: process.execPath, args: ['--input-type=module', '-e', noisy, '-', 'noisy'] } } }));
    try {
      expect((await gw.call('noisy___echo', { text: 'hi' })).text).toBe('noisy: hi');
      await expect.poll(() => gw.stderr()).toMatch(/stderr: \\u001b\]52;c;ZXZpbA==\\u0007\\u001b\[2J\\u000dmcpg: forged/);
      expect(gw.stderr()).not.toMatch(RAW);
      // The forged log line is inside the server's own line, not a line of its own.
      expect(gw.stderr().split('\n').filter((l) => l.startsWith('2026-01-01'))).toEqual([]);
    } finally {
      await gw.close();
    }
  });

  it('mcpg explain prints tool names and reasons escaped, one line each', () => {
    const audit = join(tempDir(), 'audit.jsonl');
    const labels = { secrecy: [], integrity: [] };
    const line = {
      time: '2026-12-02T00:00:00.000Z', id: 1, stage: 'response', server: 's', guard: 'g', mode: 'strict', method: 'tools/call', tool: `evil${HOSTILE}`,
      operation: 'read', resource: { description: HOSTILE, ...labels }, agent_before: labels, agent_after: labels, decision: 'deny',
      violations: [], items: null, backend_calls: [], reason: HOSTILE, approval: null,
    };
    writeFileSync(audit, `${JSON.stringify(line)}\n`);
    const r = mcpg(['explain', '--audit-log', audit]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toMatch(/^call 1 at 2026-12-02T00:00:00.000Z: tools\/call evil\\u001b\]52;c;ZXZpbA==\\u0007/);
    expect(r.stdout.split('\n').some((l) => l.startsWith('2026-01-01') || l.startsWith('mcpg: forged'))).toBe(false);
    const json = mcpg(['explain', '--audit-log', audit, '--json']);
    expect(json.stdout).not.toMatch(RAW);
    expect(JSON.parse(json.stdout).call).toBe(`tools/call evil${HOSTILE} on server "s"`);
  });

  it('odd lines in an audit log are named refusals, not internal errors', () => {
    for (const [text, why] of [
      ['[]', /line 1 is not an audit line \(the line: /],
      ['null', /line 1 is not an audit line/],
      ['{"id": 1}', /line 1 is not an audit line \(time: /],
      ['{"id": 1, "agent_before": 5}', /line 1 is not an audit line/],
      ['{', /line 1 is not JSON/],
    ] as const) {
      const audit = join(tempDir(), 'audit.jsonl');
      writeFileSync(audit, `${text}\n`);
      const r = mcpg(['explain', '--audit-log', audit]);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(2);
    }
  });
});
