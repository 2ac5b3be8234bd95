import { describe, expect, it } from 'vitest';
import { fixtureServer, mcpg, mcpgRun, tempDir, writeConfig } from '../helpers/mcpg.ts';

describe('mcpg command line', () => {
  it('prints its version and help with examples and exit codes', () => {
    const v = mcpg(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = mcpg(['--help']);
    expect(h.stdout).toContain('mcpg run --config mcpg.toml');
    expect(h.stdout).toContain('Exit codes:');
  });

  it('exits 2 on a usage error, with one line and no stack trace', () => {
    const r = mcpg(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('config check prints the resolved servers and guards', () => {
    const file = writeConfig(tempDir(), {
      mcpServers: { gh: { command: 'gh-mcp', args: ['stdio'], guard: 'out' } },
      guards: { out: { builtin: 'write-sink', policy: { accept: ['*'] } } },
    });
    const r = mcpg(['config', 'check', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('gh: gh-mcp stdio (guard out)');
    expect(r.stdout).toContain('out: builtin write-sink');
  });

  it('exits 3 on a bad config with one line naming file and key', () => {
    const file = writeConfig(tempDir(), { servers: { a: { command: 'x', nope: 1 } } });
    for (const args of [['config', 'check', file], ['run', '--config', file]]) {
      const r = mcpg(args);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toBe(`mcpg: ${file}: servers.a: unknown key "nope"`);
    }
  });

  it('exits 3 with the OS reason in plain words when the config cannot be read', () => {
    const dir = tempDir();
    const r = mcpg(['config', 'check', dir]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(`mcpg: ${dir}: cannot read config: it is a directory (EISDIR)`);
  });

  it('exits 4 naming the server when a backend cannot start', async () => {
    const file = writeConfig(tempDir(), {
      mcpServers: { ok: fixtureServer('tools.ts', 'ok'), broken: { command: '/nonexistent/server-binary' } },
    });
    const r = await mcpgRun(file);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/mcpg: server "broken" failed to start: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 4 when a backend exits before answering initialize', async () => {
    const file = writeConfig(tempDir(), { mcpServers: { quits: { command: process.execPath, args: ['-e', 'process.exit(0)'] } } });
    const r = await mcpgRun(file);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/server "quits" failed to start: /);
  });
});
