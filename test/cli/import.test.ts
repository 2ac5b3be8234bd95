// `mcpg import`: a client's config becomes an mcpg.toml (secrets stay references, never copied),
// and the client's entry that now starts mcpg; round-tripped on configs shaped as each client's.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { VERSION } from '../../src/shared/version.ts';
import { mcpg, mcpgCommand, tempDir } from '../helpers/mcpg.ts';

const clients: [string, string, object][] = [
  ['Claude Desktop', 'claude_desktop_config.json', { mcpServers: { github: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-github'], env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_literal_secret' } } } }],
  ['Claude Code', '.mcp.json', { mcpServers: { 'my.files': { command: 'node', args: ['files.js'], env: { MODE: 'ro' } }, off: { command: 'x', disabled: true } } }],
  [
    'VS Code',
    '.vscode/mcp.json',
    { inputs: [{ type: 'promptString', id: 'gh-token', password: true }], servers: { gh: { type: 'stdio', command: 'gh-mcp', env: { TOKEN: '${input:gh-token}' } }, web: { type: 'http', url: 'https://example.com/mcp' } } },
  ],
  ['Cursor', '.cursor/mcp.json', { mcpServers: { search: { url: 'https://search.example/sse', type: 'sse', headers: { Authorization: 'Bearer literal-bearer' } } } }],
];

describe('mcpg import', () => {
  for (const [client, file, config] of clients) {
    it(`${client}: writes an mcpg.toml that loads, keeps secrets out, and points the client at mcpg with --write`, () => {
      const dir = tempDir();
      const path = join(dir, file);
      mkdirSync(join(path, '..'), { recursive: true });
      const original = JSON.stringify(config, null, 2);
      writeFileSync(path, original);
      const toml = join(dir, 'mcpg.toml');
      const r = mcpg(['import', path, '--out', toml, '--write']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const text = readFileSync(toml, 'utf8');
      for (const secret of ['ghp_literal_secret', 'literal-bearer']) expect(text).not.toContain(secret);
      const cfg = loadConfig(toml, { GITHUB_PERSONAL_ACCESS_TOKEN: 't', GH_TOKEN: 't', SEARCH_AUTHORIZATION: 'Bearer t' });
      const servers = (config as { mcpServers?: object; servers?: object }).mcpServers ?? (config as { servers: object }).servers;
      const enabled = Object.entries(servers).filter(([, s]) => !(s as { disabled?: boolean }).disabled);
      expect(cfg.servers.map((s) => s.name)).toEqual(enabled.map(([n]) => n.replace('.', '-')));
      // The client now starts mcpg; the old file is kept beside it.
      const now = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, { args: string[] }>>;
      const entry = (now.mcpServers ?? now.servers)!.mcpg!;
      expect(entry.args).toEqual(['-y', `mcpg@${VERSION}`, 'run', '--config', toml, '--frozen']);
      const backup = readdirSync(join(path, '..')).find((f) => f.includes('.mcpg-backup-'))!;
      expect(readFileSync(join(path, '..', backup), 'utf8')).toBe(original);
    });
  }

  it('finds a config in its usual place, names what to set, and does not overwrite mcpg.toml unless told', () => {
    const dir = tempDir();
    writeFileSync(join(dir, '.mcp.json'), JSON.stringify({ mcpServers: { api: { command: 'api', env: { API_KEY: 'sk-literal' } } } }));
    const { command, args } = mcpgCommand();
    const r = spawnSync(command, [...args, 'import'], { cwd: dir, encoding: 'utf8', env: { ...process.env, HOME: dir } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${join(dir, 'mcpg.toml')}: 1 servers from ${join(dir, '.mcp.json')}`);
    expect(r.stdout).toContain('set these in the environment (their values may be secrets and were not copied):\n  API_KEY  (env API_KEY of server "api")');
    expect(r.stdout).toContain('"command": "npx"');
    const again = spawnSync(command, [...args, 'import'], { cwd: dir, encoding: 'utf8', env: { ...process.env, HOME: dir } });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/mcpg\.toml exists; give --force/);
  });
});
