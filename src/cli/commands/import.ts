import { existsSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { writeAtomically } from '../../config/edit.ts';
import { MAX_CONFIG_BYTES, inputVariable } from '../../config/load.ts';
import { REFERENCE, SECRET_KEY } from '../../config/secrets.ts';
import { McpgError, fsReason } from '../../shared/errors.ts';
import { readOwnFile, replaceFile } from '../../shared/files.ts';
import { VERSION } from '../../shared/version.ts';
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
 * Does a value look like a credential, whatever its key is called? A known token prefix, a
 * long run of token characters mixing letters and digits, a "Bearer"/"Basic" value, or a URL
 * carrying a password. Import errs on the side of a reference: a value set again by hand costs
 * a minute, a secret committed with mcpg.toml costs a rotation.
 */
const TOKEN_PREFIX = /^(gh[pousr]_|github_pat_|glpat-|sk-|sk_live_|rk_live_|xox[abpr]-|AKIA|ASIA|AIza|ya29\.|npm_|pypi-|hf_|dop_v1_|shpat_)/;
function looksSecret(value: string): boolean {
  if (TOKEN_PREFIX.test(value) || /^(bearer|basic|token)\s+\S/i.test(value)) return true;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@/.test(value)) return true;
  return /^[A-Za-z0-9_\-+/=.~]{24,}$/.test(value) && /[0-9]/.test(value) && /[A-Za-z]/.test(value) && !/^[./~]|\.(js|ts|py|json|toml)$/.test(value);
}

/** Headers whose values are never credentials; every other header value becomes a reference. */
const PLAIN_HEADERS = /^(accept|accept-language|content-type|user-agent|x-request-id|mcp-protocol-version)$/i;

/** A variable name from parts (`notes`, `api-key` -> `NOTES_API_KEY`). */
const variableName = (...parts: string[]) => parts.join('_').toUpperCase().replace(/[^A-Z0-9_]/g, '_').replace(/^(\d)/, '_$1');

/**
 * One client server as an mcpg server. Secrets stay out: a `${input:id}` becomes `${ID}`, and
 * every literal value that may be a secret becomes a `${VAR}` reference to set in the
 * environment, recorded in `toSet` with where it was: env values under secret-looking names or
 * that look like credentials, every header but a few plain ones, arguments that follow a
 * secret-looking flag or look like credentials, and URL query values and passwords.
 */
function convert(name: string, entry: Entry, toSet: Map<string, string>): Entry {
  const server = serverName(name);
  const input = (v: unknown) => String(v).replace(/\$\{input:([^}]+)\}/g, (_, id: string) => `\${${inputVariable(id)}}`);
  const refer = (value: string, variable: string, where: string) => {
    if (REFERENCE.test(value) || value.includes('${')) return value;
    toSet.set(variable, where);
    return `\${${variable}}`;
  };
  const out: Entry = {};
  if (typeof entry.url === 'string') {
    out.url = url(input(entry.url), server, (value, variable, where) => refer(value, variable, `${where} of server "${name}"`));
    if (entry.type === 'sse') out.type = 'sse';
    if (entry.headers) {
      out.headers = Object.fromEntries(
        Object.entries(entry.headers as Record<string, unknown>).map(([k, v]) => {
          const value = input(v);
          return [k, PLAIN_HEADERS.test(k) ? value : refer(value, variableName(server, k), `header ${k} of server "${name}"`)];
        }),
      );
    }
  } else {
    out.command = entry.command;
    if (Array.isArray(entry.args) && entry.args.length) {
      const args = entry.args.map(input);
      out.args = args.map((arg, i) => {
        const flag = /^--?([A-Za-z0-9_-]+)=(.*)$/.exec(arg);
        if (flag && (SECRET_KEY.test(flag[1]!) || looksSecret(flag[2]!))) return `--${flag[1]}=${refer(flag[2]!, variableName(server, flag[1]!), `argument --${flag[1]} of server "${name}"`)}`;
        const after = i > 0 ? /^--?([A-Za-z0-9_-]+)$/.exec(args[i - 1]!) : null;
        if (after && SECRET_KEY.test(after[1]!)) return refer(arg, variableName(server, after[1]!), `argument ${args[i - 1]} of server "${name}"`);
        return looksSecret(arg) ? refer(arg, variableName(server, 'arg', String(i + 1)), `argument ${i + 1} of server "${name}"`) : arg;
      });
    }
    if (entry.env) {
      out.env = Object.fromEntries(
        Object.entries(entry.env as Record<string, unknown>).map(([k, v]) => {
          const value = input(v);
          return [k, SECRET_KEY.test(k) || looksSecret(value) ? refer(value, variableName(k), `env ${k} of server "${name}"`) : value];
        }),
      );
    }
    if (typeof entry.cwd === 'string') out.cwd = entry.cwd;
  }
  return out;
}

/** A URL with its password and its query values that may be secrets replaced by references. */
function url(text: string, server: string, refer: (value: string, variable: string, where: string) => string): string {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return text;
  }
  // Rebuilt as text: URLSearchParams would escape the `${...}` references.
  const query = [...parsed.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${SECRET_KEY.test(k) || /^(key|sig|code|auth)$/i.test(k) || looksSecret(v) ? refer(v, variableName(server, k), `URL parameter ${k}`) : encodeURIComponent(v)}`);
  const password = parsed.password ? refer(decodeURIComponent(parsed.password), variableName(server, 'password'), 'the URL\'s password') : '';
  const auth = parsed.username ? `${parsed.username}${password ? `:${password}` : ''}@` : '';
  return `${parsed.protocol}//${auth}${parsed.host}${parsed.pathname}${query.length ? `?${query.join('&')}` : ''}${parsed.hash}`;
}

/** What a client config's servers must look like to be imported; the first problem is named. */
function serversOf(file: string, doc: unknown): { key: 'mcpServers' | 'servers'; servers: Record<string, Entry> } {
  const refuse = (why: string) => new McpgError('CONFIG_INVALID', `${file}: ${why}`);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw refuse('expected a JSON object with "mcpServers" or "servers"');
  const key = 'mcpServers' in doc ? 'mcpServers' : 'servers';
  const servers = (doc as Record<string, unknown>)[key];
  if (servers === undefined) throw refuse('it names no servers (no "mcpServers" or "servers")');
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) throw refuse(`"${key}" must be an object of servers by name`);
  for (const [name, e] of Object.entries(servers)) {
    const at = `${key}.${name}`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw refuse(`${at}: expected an object`);
    const entry = e as Entry;
    if (typeof entry.url !== 'string' && typeof entry.command !== 'string') throw refuse(`${at}: needs a "command" (a string) or a "url"`);
    if (entry.args !== undefined && !(Array.isArray(entry.args) && entry.args.every((a) => typeof a === 'string'))) throw refuse(`${at}.args: expected a list of strings`);
    for (const field of ['env', 'headers']) {
      const v = entry[field];
      if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))) throw refuse(`${at}.${field}: expected an object of strings`);
    }
  }
  if (!Object.keys(servers).length) throw refuse(`"${key}" is empty`);
  return { key, servers: servers as Record<string, Entry> };
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
    // A link is written through (the client's file stays a link), with the mode it has.
    let file: string;
    let mode: number;
    let text: string;
    try {
      file = realpathSync(found.file);
      mode = statSync(file).mode & 0o777;
      // Bounded while read, and never a FIFO or device: a client config is a small file.
      text = readOwnFile(file, MAX_CONFIG_BYTES).toString('utf8');
    } catch (err) {
      throw new McpgError('CONFIG_READ', `${found.file}: ${fsReason(err)}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text.replace(/^\ufeff/, ''));
    } catch (err) {
      throw new McpgError('CONFIG_PARSE', `${found.file}: ${fsReason(err)}`);
    }
    const { key, servers } = serversOf(found.file, doc);
    const target = resolve(args.out);
    if (existsSync(target) && !args.force) throw new McpgError('USAGE', `${target} exists; give --force to replace it, or --out another file`);
    const toSet = new Map<string, string>();
    const converted: Record<string, Entry> = {};
    const renamed: string[] = [];
    for (const [name, e] of Object.entries(servers)) {
      if (e.disabled === true) continue;
      // Two client names may map to one mcpg name ("a.b" and "a-b"): none is dropped.
      let mine = serverName(name);
      for (let n = 2; mine in converted; n++) mine = `${serverName(name)}-${n}`;
      if (mine !== name) renamed.push(`"${name}" as "${mine}"`);
      converted[mine] = convert(mine === serverName(name) ? name : mine, e, toSet);
    }
    const { stringify } = await import('smol-toml');
    writeAtomically(target, `# Imported by \`mcpg import\` from ${found.file}. Add guards: see \`mcpg registry list\`.\n${stringify({ servers: converted })}`);
    // The one entry that starts mcpg, in the client's own shape.
    // A pinned version, and --frozen: the guards the agent runs are the ones guards.lock names.
    const entry = { command: 'npx', args: ['-y', `mcpg@${VERSION}`, 'run', '--config', target, '--frozen'] };
    const replacement = key === 'servers' ? { servers: { mcpg: { type: 'stdio', ...entry } } } : { mcpServers: { mcpg: entry } };
    const lines = [`${target}: ${Object.keys(converted).length} servers from ${found.file}`];
    if (renamed.length) lines.push(`imported under other names (mcpg's names are letters, digits, "-" and "_", and unique): ${renamed.join(', ')}`);
    if (toSet.size) {
      lines.push('set these in the environment (their values may be secrets and were not copied):');
      for (const [variable, where] of [...toSet].sort()) lines.push(`  ${variable}  (${where})`);
    }
    if (args.write) {
      const backup = `${file}.mcpg-backup-${Date.now()}`;
      try {
        writeFileSync(backup, text, { mode, flag: 'wx' });
        replaceFile(file, `${JSON.stringify({ ...(doc as object), ...replacement }, null, 2)}\n`, mode);
      } catch (err) {
        throw new McpgError('FILE_ACCESS', `${file}: cannot write: ${fsReason(err)}`);
      }
      lines.push(`${found.file}: now starts mcpg (the old file is ${backup})`);
    } else {
      lines.push(`in ${found.file}, replace "${key}" with:`, JSON.stringify(replacement[key as keyof typeof replacement], null, 2));
    }
    out(lines.join('\n'));
  },
};
