import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { McpgError, errorMessage, fsReason } from '../shared/errors.ts';
import { CONFIG_KEYS, configSchema, type GuardConfig, type Mode, type ServerConfig } from './schema.ts';

export type Server = ServerConfig & {
  name: string;
  /** Filled from [gateway] when the server sets none. */
  startupTimeoutMs: number;
  toolTimeoutMs: number;
  maxTotalMs: number;
  maxMessageBytes: number;
};

/** A server reached over HTTP (it has a url, not a command). */
export type HttpServer = Extract<Server, { url: string }>;

export type Guard = GuardConfig & { name: string };

const MIB = 1024 * 1024;

export interface Config {
  file: string;
  /** [gateway] mode, when the config sets one. */
  mode?: Mode;
  /** The largest request the agent may send. */
  maxRequestBytes: number;
  askTimeoutMs: number;
  /** guards.lock, absolute. */
  lock: string;
  trustedRoot?: string;
  servers: Server[];
  guards: Guard[];
  /** Each value that came from `${VAR}`, by key path, as written: shown instead of the value. */
  templates: Record<string, string>;
  /** What the config says that mcpg does not act on (shown by `run` and `config check`). */
  warnings: string[];
}

/**
 * Which `${VAR}` references are replaced: all (to run), or all but the servers' (for commands
 * that only supply guards: CI need not hold the servers' secrets).
 */
export type Expand = 'all' | 'guards';

/** Reads, expands `${VAR}`, validates and settles a config file. Every error names the file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, expand: Expand = 'all'): Config {
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (err) {
    throw new McpgError('CONFIG_READ', `${file}: cannot read config: ${fsReason(err)}`);
  }
  return parseConfig(file, text, env, expand);
}

/** The same, for the text of `file` (an edit checked before it is written). */
export function parseConfig(file: string, text: string, env: NodeJS.ProcessEnv = process.env, expand: Expand = 'all'): Config {
  const abs = resolve(file);
  const doc = normalise(checkDepth(file, parseText(file, text)), file) as Record<string, unknown>;
  const templates: Record<string, string> = {};
  const raw =
    expand === 'all'
      ? expandEnv(doc, file, env, [], templates)
      : !doc || typeof doc !== 'object'
        ? doc
        : Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, k === 'servers' ? v : expandEnv(v, file, env, [k], templates)]));
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new McpgError('CONFIG_INVALID', formatIssues(file, parsed.error.issues));
  const cfg = parsed.data;
  const dir = dirname(abs);
  const relative = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  return {
    file: abs,
    mode: cfg.gateway.mode,
    maxRequestBytes: cfg.gateway.max_request_mib * MIB,
    askTimeoutMs: cfg.gateway.ask_timeout * 1000,
    lock: relative(cfg.gateway.lock),
    trustedRoot: cfg.gateway.trusted_root && relative(cfg.gateway.trusted_root),
    warnings: Object.entries(cfg.servers).flatMap(([name, s]) => [
      ...(s.autoApprove ? [`servers.${name}.autoApprove: ignored (mcpg decides by information-flow policy, not by a list of tools)`] : []),
      ...(s.disabled ? [`servers.${name}: disabled, so it is not started`] : []),
    ]),
    servers: Object.entries(cfg.servers)
      .filter(([, s]) => !s.disabled)
      .map(([name, s]) => ({
      ...s,
      ...('command' in s
        ? { command: /^\.\.?\//.test(s.command) ? relative(s.command) : s.command, cwd: s.cwd && relative(s.cwd) }
        : {}),
      name,
      startupTimeoutMs: (s.startup_timeout ?? cfg.gateway.startup_timeout) * 1000,
      toolTimeoutMs: (s.tool_timeout ?? cfg.gateway.tool_timeout) * 1000,
      maxTotalMs: (s.max_total_timeout ?? cfg.gateway.max_total_timeout) * 1000,
      maxMessageBytes: (s.max_message_mib ?? cfg.gateway.max_message_mib) * MIB,
    })),
    templates,
    guards: Object.entries(cfg.guards).map(([name, g]) => ({
      ...g,
      ...('path' in g ? { path: relative(g.path) } : {}),
      ...('bundle' in g && g.bundle && !/^https?:/.test(g.bundle) ? { bundle: relative(g.bundle) } : {}),
      ...('trusted_root' in g && g.trusted_root ? { trusted_root: relative(g.trusted_root) } : {}),
      name,
    })),
  };
}

/** Deeper than this is no config, and walking it could exhaust the stack. */
const MAX_DEPTH = 64;

function parseText(file: string, raw: string): unknown {
  const ext = extname(file).toLowerCase();
  // Editors on some systems write a byte-order mark; neither format wants it.
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  try {
    if (ext === '.toml') return parseToml(text);
    if (ext === '.json') return JSON.parse(text);
  } catch (err) {
    throw new McpgError('CONFIG_PARSE', `${file}: not valid ${ext.slice(1).toUpperCase()}: ${errorMessage(err)}`);
  }
  throw new McpgError('CONFIG_PARSE', `${file}: unknown config format "${ext}" (expected .toml or .json)`);
}

/** Refuses a document nested deeper than MAX_DEPTH, without recursion, naming where. */
function checkDepth(file: string, root: unknown): unknown {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value: root, path: [] }];
  while (stack.length) {
    const { value, path } = stack.pop()!;
    if (!value || typeof value !== 'object') continue;
    if (path.length >= MAX_DEPTH) {
      throw new McpgError('CONFIG_PARSE', `${file}: ${path.slice(0, 4).join('.')}…: nested deeper than ${MAX_DEPTH} levels`);
    }
    for (const [k, v] of Object.entries(value)) stack.push({ value: v, path: [...path, Array.isArray(value) ? Number(k) : k] });
  }
  return root;
}

/** JSON configs may use the MCP-client convention `{"mcpServers": {...}}`. */
function normalise(raw: unknown, file: string): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || !('mcpServers' in raw)) return raw;
  const { mcpServers, ...rest } = raw as Record<string, unknown>;
  if ('servers' in rest) {
    throw new McpgError('CONFIG_INVALID', `${file}: mcpServers: use either "mcpServers" or "servers", not both`);
  }
  return { ...rest, servers: mcpServers };
}

/** VS Code's `${input:github-token}` reads the environment variable GITHUB_TOKEN: mcpg cannot prompt. */
export function inputVariable(id: string): string {
  return id.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

function expandEnv(value: unknown, file: string, env: NodeJS.ProcessEnv, path: (string | number)[], templates: Record<string, string>): unknown {
  if (typeof value === 'string') {
    if (value.includes('${')) templates[path.join('.')] = value;
    const inputs = value.replace(/\$\{input:([^}]+)\}/g, (_, id: string) => {
      const v = env[inputVariable(id)];
      if (v === undefined) {
        throw new McpgError(
          'CONFIG_ENV_MISSING',
          `${file}: ${path.join('.')}: VS Code would prompt for input "${id}"; mcpg cannot prompt: set the environment variable ${inputVariable(id)}`,
        );
      }
      return v;
    });
    return inputs.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) {
        throw new McpgError(
          'CONFIG_ENV_MISSING',
          `${file}: ${path.join('.')}: environment variable ${name} is not set (used as \${${name}})`,
        );
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, file, env, [...path, i], templates));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, file, env, [...path, k], templates)]));
  }
  return value;
}

function formatIssues(file: string, issues: z.core.$ZodIssue[]): string {
  // A bad record key (a server or guard name) carries its reason one level down.
  const why = (i: z.core.$ZodIssue) =>
    i.code === 'invalid_key' && i.issues[0]
      ? `name ${i.issues[0].message}`
      : i.code === 'unrecognized_keys'
        ? i.keys.map((k) => `unknown key "${k}"${didYouMean(k)}`).join(', ')
        : i.message;
  const [first, ...rest] = issues.map((i) => `${file}: ${i.path.length ? i.path.join('.') : '(top level)'}: ${why(i)}`);
  return rest.length ? `${first} (and ${rest.length} more problem${rest.length > 1 ? 's' : ''})` : `${first}`;
}

/** ` (did you mean "command"?)` for a key a few edits (a third of its length) from one mcpg knows. */
function didYouMean(key: string): string {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const known of CONFIG_KEYS) {
    const d = distance(key.toLowerCase(), known.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

/** Levenshtein distance, for short keys. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
