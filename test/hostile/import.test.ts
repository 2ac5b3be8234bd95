// `mcpg import` as an attacker (or a careless paste) would have the client's config: literal
// secrets in arguments, URL query strings and headers with plain names; a 0600 file behind a
// symlink; two names that map to one; odd JSON. Nothing secret reaches mcpg.toml, the client's
// file keeps its mode and its link, no server is dropped, and odd input is a named refusal.
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { mcpg, tempDir } from '../helpers/mcpg.ts';

const SECRETS = ['ghp_0123456789abcdefABCDEF0123456789', 'hunter2', 'abcdEF0123456789abcdEF0123', 'plain-header-secret', 'pw-in-url'];

describe('mcpg import, hostile', () => {
  it('turns every value that may be a secret into a reference, and says which', () => {
    const dir = tempDir();
    const file = join(dir, 'client.json');
    writeFileSync(
      file,
      JSON.stringify({
        mcpServers: {
          gh: { command: 'gh-mcp', args: ['--token', SECRETS[0], '--password=hunter2', '--verbose', SECRETS[2]], env: { MODE: 'ro', DB: 'postgres://app:pw-in-url@db/x' } },
          web: { url: `https://api.example.com/mcp?key=${SECRETS[2]}&region=eu`, headers: { 'X-Goog-Thing': 'plain-header-secret', Accept: 'application/json' } },
        },
      }),
    );
    const toml = join(dir, 'mcpg.toml');
    const r = mcpg(['import', file, '--out', toml]);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(toml, 'utf8');
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(text).toContain('--verbose');
    expect(text).toContain('region=eu');
    expect(text).toContain('MODE = "ro"');
    expect(text).toContain('Accept = "application/json"');
    for (const line of [
      'GH_TOKEN  (argument --token of server "gh")',
      'GH_PASSWORD  (argument --password of server "gh")',
      'GH_ARG_5  (argument 5 of server "gh")',
      'DB  (env DB of server "gh")',
      'WEB_KEY  (URL parameter key of server "web")',
      'WEB_X_GOOG_THING  (header X-Goog-Thing of server "web")',
    ]) expect(r.stdout).toContain(`  ${line}`);
    const env = { GH_TOKEN: 't', GH_PASSWORD: 'p', GH_ARG_5: 'a', DB: 'd', WEB_KEY: 'k', WEB_X_GOOG_THING: 'h' };
    const cfg = loadConfig(toml, env);
    expect(cfg.servers.find((s) => s.name === 'gh')).toMatchObject({ args: ['--token', 't', '--password=p', '--verbose', 'a'] });
    expect(cfg.servers.find((s) => s.name === 'web')).toMatchObject({ url: 'https://api.example.com/mcp?key=k&region=eu' });
  });

  it('--write keeps the file a link, keeps its 0600 mode, writes a 0600 backup, and drops no server', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'real'));
    const real = join(dir, 'real', 'claude.json');
    writeFileSync(real, JSON.stringify({ mcpServers: { 'a.b': { command: 'x' }, 'a-b': { command: 'y' } } }), { mode: 0o600 });
    const link = join(dir, 'claude.json');
    symlinkSync(real, link);
    const toml = join(dir, 'mcpg.toml');
    const r = mcpg(['import', link, '--out', toml, '--write']);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(statSync(real).mode & 0o777).toBe(0o600);
    const backup = readdirSync(join(dir, 'real')).find((f) => f.includes('.mcpg-backup-'))!;
    expect(statSync(join(dir, 'real', backup)).mode & 0o777).toBe(0o600);
    expect(realpathSync(link)).toBe(real);
    expect(loadConfig(toml, {}).servers.map((s) => s.name).sort()).toEqual(['a-b', 'a-b-2']);
    expect(r.stdout).toMatch(/imported under other names .*"a\.b" as "a-b"|"a-b" as "a-b-2"/);
  });

  it('a client config that is a FIFO, or larger than 8 MiB, is refused without being read whole', () => {
    const dir = tempDir();
    const fifo = join(dir, 'fifo.json');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = mcpg(['import', fifo, '--out', join(dir, 'a.toml')]);
    expect(r.stderr).toMatch(/fifo\.json: it is a FIFO, not a regular file/);
    const big = join(dir, 'big.json');
    writeFileSync(big, `{"mcpServers": {}, "pad": "${'x'.repeat(9 * 1024 * 1024)}"}`);
    const b = mcpg(['import', big, '--out', join(dir, 'b.toml')]);
    expect(b.stderr).toMatch(/big\.json: it is larger than 8 MiB/);
    for (const x of [r, b]) expect(x.stderr).not.toMatch(/internal error/);
  });

  it('odd JSON is a refusal naming the file and the key, never an internal error', () => {
    for (const [doc, why] of [
      ['null', /expected a JSON object with "mcpServers" or "servers"/],
      ['[]', /expected a JSON object/],
      ['{"mcpServers": []}', /"mcpServers" must be an object of servers by name/],
      ['{"mcpServers": {"x": null}}', /mcpServers\.x: expected an object/],
      ['{"mcpServers": {"x": {"command": 5}}}', /mcpServers\.x: needs a "command"/],
      ['{"mcpServers": {"x": {"command": "c", "args": [1]}}}', /mcpServers\.x\.args: expected a list of strings/],
      ['{"mcpServers": {"x": {"command": "c", "env": {"A": {}}}}}', /mcpServers\.x\.env: expected an object of strings/],
    ] as const) {
      const dir = tempDir();
      const file = join(dir, 'c.json');
      writeFileSync(file, doc);
      const r = mcpg(['import', file, '--out', join(dir, 'mcpg.toml')]);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(3);
    }
  });
});
