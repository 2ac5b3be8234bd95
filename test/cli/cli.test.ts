import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, fixtureServer, mcpg, mcpgCommand, mcpgRun, tempDir, writeConfig } from '../helpers/mcpg.ts';

describe('mcpg command line', () => {
  it('prints its version and help with examples and exit codes', () => {
    const v = mcpg(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = mcpg(['--help']);
    expect(h.stdout).toContain('mcpg run --config mcpg.toml');
    expect(h.stdout).toContain('Exit codes:');
  });

  it('bare mcpg shows its usage and exits 2; guard verify offers no --frozen (it always is); a completion script', () => {
    const bare = mcpg([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^mcpg <command>/);
    expect(bare.stderr.trim().split('\n').pop()).toBe('mcpg: Name a command.');
    expect(mcpg(['guard', 'verify', '--help']).stdout).not.toContain('--frozen');
    // --version is mcpg's, listed once at the top, not on every command.
    expect(mcpg(['--help']).stdout).toContain('--version');
    expect(mcpg(['run', '--help']).stdout).not.toContain('--version');
    expect(mcpg(['run', '--version']).code).toBe(2);
    expect(mcpg(['completion']).stdout).toContain('mcpg-completions');
    expect(mcpg(['completion', 'fish']).stdout).toContain("complete -c mcpg -f -a '(__mcpg_completions)'");
    expect(mcpg(['--get-yargs-completions', 'gu']).stdout.split('\n')).toContain('guard');
  });

  it('run finds mcpg.toml in the working directory when --config is not given', async () => {
    const dir = tempDir();
    writeConfig(dir, `[servers.s]\ncommand = ${JSON.stringify(process.execPath)}\nargs = [${JSON.stringify(join(ROOT, 'test/fixtures/servers/tools.ts'))}, "s"]\n`, 'mcpg.toml');
    const { command, args } = mcpgCommand();
    const r = spawnSync(command, [...args, 'config', 'check'], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(2);
    const check = spawnSync(command, [...args, 'guard', 'verify'], { cwd: dir, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.stdout).toMatch(/0 guards verified/);
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

  it('config check shows no secret: ${VAR} values as written, literal secrets and URL passwords redacted', () => {
    const file = writeConfig(tempDir(), {
      mcpServers: {
        gh: { command: 'github-mcp-server', env: { GITHUB_TOKEN: '${GH_SECRET_FOR_TEST}', API_KEY: 'sk-literal-secret', MODE: 'plain' } },
        web: { url: 'https://user:hunter2@example.com/mcp', headers: { Authorization: 'Bearer literal-bearer', 'X-Trace': '${TRACE}' } },
      },
    });
    const env = { GH_SECRET_FOR_TEST: 'ghp_expanded_secret', TRACE: 'trace-value' };
    for (const args of [['config', 'check', file, '--json'], ['config', 'check', file]]) {
      const r = mcpg(args, env);
      expect(r.code).toBe(0);
      for (const secret of ['ghp_expanded_secret', 'sk-literal-secret', 'hunter2', 'literal-bearer', 'trace-value']) expect(r.stdout).not.toContain(secret);
    }
    const shown = JSON.parse(mcpg(['config', 'check', file, '--json'], env).stdout) as { servers: Record<string, unknown>[] };
    expect(shown.servers[0]).toMatchObject({ env: { GITHUB_TOKEN: '${GH_SECRET_FOR_TEST}', API_KEY: '<redacted>', MODE: 'plain' } });
    expect(shown.servers[1]).toMatchObject({ url: 'https://user:<redacted>@example.com/mcp', headers: { Authorization: '<redacted>', 'X-Trace': '${TRACE}' } });
  });

  it('guard verify needs no variable that only servers use', () => {
    const dir = tempDir();
    const file = writeConfig(dir, { mcpServers: { search: { url: 'https://example.com/mcp', headers: { Authorization: 'Bearer ${SEARCH_TOKEN}' } } } });
    const r = mcpg(['guard', 'verify', '--frozen', '--offline', '--config', file], { SEARCH_TOKEN: '' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(mcpg(['guard', 'verify', '--config', file], { SEARCH_TOKEN: undefined }).code).toBe(0);
  });

  it('guard call checks an allow-only policy before label_agent, naming the missing field', () => {
    const r = mcpg(['guard', 'call', join(ROOT, 'dist/guards/repo-visibility.wasm'), 'label_agent', '--policy', '{"allow-only":{"repos":"public"}}']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toMatch(/policy\.allow-only\.min-integrity: required: one of none, unapproved, approved, merged$/);
  });

  it('run refuses a policy mistake at start (exit 3), though label_agent runs after start-up', async () => {
    const file = writeConfig(tempDir(), {
      mcpServers: { gh: { ...fixtureServer('tools.ts', 'gh'), guard: 'rv' } },
      guards: { rv: { path: join(ROOT, 'dist/guards/repo-visibility.wasm'), policy: { 'allow-only': { repos: 'private', 'min-integrity': 'none' } } } },
    });
    const r = await mcpgRun(file);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/mcpg could not start/);
    expect(r.stderr.trim().split('\n').pop()).toBe('mcpg: guard "rv": policy.allow-only.repos: a string must be "all" or "public"');
  });

  it('exits 3 with the OS reason in plain words when the config cannot be read', () => {
    const dir = tempDir();
    const r = mcpg(['config', 'check', dir]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(`mcpg: ${dir}: cannot read config: it is a directory, not a regular file`);
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
