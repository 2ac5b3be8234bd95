import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { writeAtomically } from '../../config/edit.ts';
import { inputVariable } from '../../config/load.ts';
import { REFERENCE, SECRET_KEY } from '../../config/secrets.ts';
import { McpgError, fsReason } from '../../shared/errors.ts';
import { out } from '../output.ts';

interface Args {
  file?: string;
  out: string;
  write: boolean;
  force: boolean;
}

type Entry = Record<string, unknown>;

/** Where MCP clients keep their configs, in the order `mcpg import` looks. */
export function clientConfigs(cwd = process.cwd(), home = homedir()): { client: string; file: string }[] {
  const appData = process.env.APPDATA ?? join(home, 'AppData/Roaming');
  const claudeDir = process.platform === 'darwin' ? join(home, 'Library/Application Support/Claude') : process.platform === 'win32' ? join(appData, 'Claude') : join(home, '.config/Claude');
  return [
    { client: 'Claude Code', file: join(cwd, '.mcp.json') },
    { client: 'VS Code', file: join(cwd, '.vscode/mcp.json') },
    { client: 'Cursor', file: join(cwd, '.cursor/mcp.json') },
    { client: 'Cursor', file: join(home, '.cursor/mcp.json') },
    { client: 'Claude Desktop', file: join(claudeDir, 'claude_desktop_config.json') },
  ];
}

/** A name mcpg accepts: letters, digits, "-" and "_", not ending with "_". */
const serverName = (name: string) => name.replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[-_]+/, '').replace(/_+$/, '') || 'server';

/**
 * One client server as an mcpg server. Secrets stay out: a `${input:id}` becomes `${ID}`, and a
 * literal value under a secret-looking key becomes a `${VAR}` reference to set in the environment.
 */
function convert(name: string, entry: Entry, toSet: Set<string>): Entry {
  const refer = (values: unknown, prefix: string) =>
    Object.fromEntries(
      Object.entries((values ?? {}) as Record<string, string>).map(([k, v]) => {
        const value = String(v).replace(/\$\{input:([^}]+)\}/g, (_, id: string) => `\${${inputVariable(id)}}`);
        if (!SECRET_KEY.test(k) || REFERENCE.test(value) || value.includes('${')) return [k, value];
        const variable = `${prefix}${k}`.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
        toSet.add(variable);
        return [k, `\${${variable}}`];
      }),
    );
  const out: Entry = {};
  if (typeof entry.url === 'string') {
    out.url = entry.url;
    if (entry.type === 'sse') out.type = 'sse';
    if (entry.headers) out.headers = refer(entry.headers, `${serverName(name)}_`);
  } else {
    out.command = entry.command;
    if (Array.isArray(entry.args) && entry.args.length) out.args = entry.args;
    if (entry.env) out.env = refer(entry.env, '');
    if (typeof entry.cwd === 'string') out.cwd = entry.cwd;
  }
  return out;
}

export const importCommand: CommandModule<object, Args> = {
  command: 'import [file]',
  describe: "Turn an MCP client's config (Claude Desktop, Claude Code, VS Code, Cursor) into an mcpg.toml",
  builder: (y) =>
    y
      .positional('file', { type: 'string', describe: "the client's config (default: the first found in the usual places)" })
      .option('out', { type: 'string', default: 'mcpg.toml', describe: 'the mcpg config to write' })
      .option('write', { type: 'boolean', default: false, describe: "also point the client's config at mcpg (after a backup beside it)" })
      .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing --out file' }),
  handler: async (args) => {
    const found = args.file ? { client: 'the given file', file: resolve(args.file) } : clientConfigs().find((c) => existsSync(c.file));
    if (!found) throw new McpgError('USAGE', `no MCP client config found (looked in ${clientConfigs().map((c) => c.file).join(', ')}); name one`);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(readFileSync(found.file, 'utf8').replace(/^\ufeff/, '')) as Record<string, unknown>;
    } catch (err) {
      throw new McpgError('CONFIG_PARSE', `${found.file}: ${fsReason(err)}`);
    }
    const key = 'mcpServers' in doc ? 'mcpServers' : 'servers';
    const servers = (doc[key] ?? {}) as Record<string, Entry>;
    if (!Object.keys(servers).length) throw new McpgError('CONFIG_INVALID', `${found.file}: it names no servers (no "mcpServers" or "servers")`);
    const target = resolve(args.out);
    if (existsSync(target) && !args.force) throw new McpgError('USAGE', `${target} exists; give --force to replace it, or --out another file`);
    const toSet = new Set<string>();
    const converted = Object.fromEntries(
      Object.entries(servers)
        .filter(([, e]) => e.disabled !== true)
        .map(([name, e]) => [serverName(name), convert(name, e, toSet)]),
    );
    const { stringify } = await import('smol-toml');
    writeAtomically(target, `# Imported by \`mcpg import\` from ${found.file}. Add guards: see \`mcpg registry list\`.\n${stringify({ servers: converted })}`);
    // The one entry that starts mcpg, in the client's own shape.
    const entry = { command: 'npx', args: ['-y', 'mcpg', 'run', '--config', target] };
    const replacement = key === 'servers' ? { servers: { mcpg: { type: 'stdio', ...entry } } } : { mcpServers: { mcpg: entry } };
    const lines = [`${target}: ${Object.keys(converted).length} servers from ${found.file}`];
    if (toSet.size) lines.push(`set these in the environment (their values were not copied): ${[...toSet].sort().join(', ')}`);
    if (args.write) {
      const backup = `${found.file}.mcpg-backup-${Date.now()}`;
      writeFileSync(backup, readFileSync(found.file));
      writeAtomically(found.file, `${JSON.stringify({ ...doc, ...replacement }, null, 2)}\n`);
      lines.push(`${found.file}: now starts mcpg (the old file is ${backup})`);
    } else {
      lines.push(`in ${found.file}, replace "${key}" with:`, JSON.stringify(replacement[key as keyof typeof replacement], null, 2));
    }
    out(lines.join('\n'));
  },
};
