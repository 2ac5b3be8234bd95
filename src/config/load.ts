import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { McpgError, errorMessage, fsReason } from '../shared/errors.ts';
import { configSchema, type GuardConfig, type Mode, type ServerConfig } from './schema.ts';

export type Server = ServerConfig & {
  name: string;
  /** Milliseconds, filled from [gateway] when the server sets none. */
  startupTimeoutMs: number;
  toolTimeoutMs: number;
};

export type Guard = GuardConfig & { name: string };

export interface Config {
  file: string;
  mode: Mode;
  /** guards.lock, absolute. */
  lock: string;
  trustedRoot?: string;
  servers: Server[];
  guards: Guard[];
}

/** Reads, expands `${VAR}`, validates and settles a config file. Every error names the file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new McpgError('CONFIG_READ', `${file}: cannot read config: ${fsReason(err)}`);
  }
  const raw = expandEnv(normalise(parseText(file, text), file), file, env, []);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new McpgError('CONFIG_INVALID', formatIssues(file, parsed.error.issues));
  const cfg = parsed.data;
  const dir = dirname(abs);
  const relative = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  return {
    file: abs,
    mode: cfg.gateway.mode,
    lock: relative(cfg.gateway.lock),
    trustedRoot: cfg.gateway.trusted_root && relative(cfg.gateway.trusted_root),
    servers: Object.entries(cfg.servers).map(([name, s]) => ({
      ...s,
      ...('command' in s
        ? { command: /^\.\.?\//.test(s.command) ? relative(s.command) : s.command, cwd: s.cwd && relative(s.cwd) }
        : {}),
      name,
      startupTimeoutMs: (s.startup_timeout ?? cfg.gateway.startup_timeout) * 1000,
      toolTimeoutMs: (s.tool_timeout ?? cfg.gateway.tool_timeout) * 1000,
    })),
    guards: Object.entries(cfg.guards).map(([name, g]) => ({
      ...g,
      ...('path' in g ? { path: relative(g.path) } : {}),
      ...('bundle' in g && g.bundle && !/^https?:/.test(g.bundle) ? { bundle: relative(g.bundle) } : {}),
      ...('trusted_root' in g && g.trusted_root ? { trusted_root: relative(g.trusted_root) } : {}),
      name,
    })),
  };
}

function parseText(file: string, text: string): unknown {
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.toml') return parseToml(text);
    if (ext === '.json') return JSON.parse(text);
  } catch (err) {
    throw new McpgError('CONFIG_PARSE', `${file}: not valid ${ext.slice(1).toUpperCase()}: ${errorMessage(err)}`);
  }
  throw new McpgError('CONFIG_PARSE', `${file}: unknown config format "${ext}" (expected .toml or .json)`);
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

function expandEnv(value: unknown, file: string, env: NodeJS.ProcessEnv, path: (string | number)[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
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
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, file, env, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, file, env, [...path, k])]));
  }
  return value;
}

function formatIssues(file: string, issues: z.core.$ZodIssue[]): string {
  // A bad record key (a server or guard name) carries its reason one level down.
  const why = (i: z.core.$ZodIssue) => (i.code === 'invalid_key' && i.issues[0] ? `name ${i.issues[0].message}` : i.message);
  const [first, ...rest] = issues.map((i) => `${file}: ${i.path.length ? i.path.join('.') : '(top level)'}: ${why(i)}`);
  return rest.length ? `${first} (and ${rest.length} more problem${rest.length > 1 ? 's' : ''})` : `${first}`;
}
