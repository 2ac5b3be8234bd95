import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureServer, mcpg, readAudit, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

describe('audit before effect', () => {
  it('a call whose audit line cannot be written never reaches the backend (--audit-log /dev/full)', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, { mcpServers: { s: fixtureServer('tools.ts', 's') } });
    const gw = await startGateway(config, ['--audit-log', '/dev/full']);
    try {
      const target = join(dir, 'effect');
      const r = await gw.call('s___touch', { path: target });
      expect(r.isError).toBe(true);
      expect(r.text).toBe(
        'mcpg denied "touch" on server "s": the audit log /dev/full could not be written (no space left on the device (ENOSPC)), so the call is refused',
      );
      expect(existsSync(target)).toBe(false);
    } finally {
      await gw.close();
    }
  });

  it('writes the request line before forwarding and the response line after, joined by id', async () => {
    const dir = tempDir();
    const audit = join(dir, 'audit.jsonl');
    const gw = await startGateway(writeConfig(dir, { mcpServers: { s: fixtureServer('tools.ts', 's') } }), ['--audit-log', audit]);
    try {
      await gw.call('s___touch', { path: join(dir, 'effect') });
      await gw.call('s___echo', { text: 'x' });
      expect(readAudit(audit).map((l) => [l.id, l.stage, l.tool, l.decision])).toEqual([
        [1, 'request', 'touch', 'allow'],
        [1, 'response', 'touch', 'allow'],
        [2, 'request', 'echo', 'allow'],
        [2, 'response', 'echo', 'allow'],
      ]);
      // Each line says when it was written, in order.
      const times = readAudit(audit).map((l) => l.time as string);
      for (const t of times) expect(new Date(t).toISOString()).toBe(t);
      expect([...times].sort()).toEqual(times);
    } finally {
      await gw.close();
    }
  });

  it('an audit log or log file that cannot be opened is exit 3 with the path and the reason, before anything starts', () => {
    const dir = tempDir();
    const config = writeConfig(dir, { mcpServers: { s: fixtureServer('tools.ts', 's') } });
    const missing = join(dir, 'no/such/dir/audit.jsonl');
    const a = mcpg(['run', '--config', config, '--audit-log', missing]);
    expect(a.code).toBe(3);
    expect(a.stderr.trim().split('\n')).toEqual([`mcpg: cannot open the audit log ${missing}: no such file or directory (ENOENT)`]);
    const b = mcpg(['run', '--config', config, '--log-file', dir]);
    expect(b.code).toBe(3);
    expect(b.stderr.trim()).toBe(`mcpg: cannot open the log file ${dir}: it is a directory (EISDIR)`);
  });
});
