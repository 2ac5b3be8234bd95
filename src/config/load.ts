import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { McpgError, errorMessage, fsReason } from '../shared/errors.ts';
import { readUserFile } from '../shared/files.ts';
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
  /** `mcpg serve`: the agents it admits, by name, with their tokens. */
  agents: Record<string, string>;
  listen?: string;
  domain?: string;
  sessionTimeoutMs: number;
  maxConcurrentCalls: number;
  /** What each agent may use ([gateway.agent_policies]); an agent without one may use everything. */
  agentPolicies: Record<string, { servers?: string[]; tools?: string[] }>;
  /** Where traces go (OTLP/HTTP): [gateway.opentelemetry], else the standard OTEL_EXPORTER_OTLP_ENDPOINT. */
  opentelemetry?: { endpoint: string; serviceName: string; headers: Record<string, string> };
  /** Where replicas share agents' labels, calls and sessions (redis:// or rediss://); unset: memory. */
  state?: string;
  maxCallsPerSession: number;
  /** `mcpg serve` as an OAuth protected resource. */
  oauth?: { issuer: string; audience: string; jwksUrl?: string; agentClaim: string };
  /** Where large tool results go, when the config names a place (gh-aw-mcpg's payloadDir). */
  payloads?: { dir: string; threshold: number; pathPrefix?: string };
  /** The size above which a result goes to `payloads.dir` (also when the environment names the dir: MCP_GATEWAY_PAYLOAD_DIR). */
  payloadThreshold: number;
  payloadPathPrefix?: string;
}

/**
 * Which `${VAR}` references are replaced: all (to run), or all but the servers' (for commands
 * that only supply guards: CI need not hold the servers' secrets).
 */
export type Expand = 'all' | 'guards';

/** The largest config mcpg reads (a client's config imported into one included). */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** Reads, expands `${VAR}`, validates and settles a config file. Every error names the file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, expand: Expand = 'all'): Config {
  let text: string;
  try {
    text = readUserFile(resolve(file), MAX_CONFIG_BYTES).toString('utf8');
  } catch (err) {
    throw new McpgError('CONFIG_READ', `${file}: cannot read config: ${fsReason(err)}`);
  }
  return parseConfig(file, text, env, expand);
}

/** The same, for the text of `file` (an edit checked before it is written). */
export function parseConfig(file: string, text: string, env: NodeJS.ProcessEnv = process.env, expand: Expand = 'all'): Config {
  const abs = resolve(file);
  const notes: string[] = [];
  const doc = normalise(fromGhAw(checkDepth(file, parseText(file, text)), file, env, notes), file) as Record<string, unknown>;
  const templates: Record<string, string> = {};
  const raw =
    expand === 'all'
      ? expandEnv(doc, file, env, [], templates)
      : !doc || typeof doc !== 'object'
        ? doc
        : Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, k === 'servers' ? v : expandEnv(v, file, env, [k], templates)]));
  // Parsed once per process: zod's compiled fast path would cost more to generate than it saves.
  const parsed = configSchema.safeParse(raw, { jitless: true });
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
    agents: cfg.gateway.agents ?? {},
    agentPolicies: cfg.gateway.agent_policies ?? {},
    listen: cfg.gateway.listen,
    domain: cfg.gateway.domain,
    sessionTimeoutMs: cfg.gateway.session_timeout * 1000,
    maxConcurrentCalls: cfg.gateway.max_concurrent_calls,
    ...(cfg.gateway.state && { state: cfg.gateway.state }),
    ...(cfg.gateway.opentelemetry
      ? { opentelemetry: { endpoint: cfg.gateway.opentelemetry.endpoint, serviceName: cfg.gateway.opentelemetry.service_name, headers: cfg.gateway.opentelemetry.headers } }
      : env.OTEL_EXPORTER_OTLP_ENDPOINT && { opentelemetry: { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: env.OTEL_SERVICE_NAME || 'mcpg', headers: {} } }),
    maxCallsPerSession: cfg.gateway.max_calls_per_session,
    ...(cfg.gateway.oauth && { oauth: { issuer: cfg.gateway.oauth.issuer, audience: cfg.gateway.oauth.audience, jwksUrl: cfg.gateway.oauth.jwks_url, agentClaim: cfg.gateway.oauth.agent_claim } }),
    payloadThreshold: cfg.gateway.payload_size_threshold,
    ...(cfg.gateway.payload_path_prefix && { payloadPathPrefix: cfg.gateway.payload_path_prefix }),
    ...(cfg.gateway.payload_dir && { payloads: { dir: cfg.gateway.payload_dir, threshold: cfg.gateway.payload_size_threshold, pathPrefix: cfg.gateway.payload_path_prefix } }),
    trustedRoot: cfg.gateway.trusted_root && relative(cfg.gateway.trusted_root),
    warnings: [
      ...notes,
      ...Object.entries(cfg.servers).flatMap(([name, s]) => [
      ...(s.autoApprove ? [`servers.${name}.autoApprove: ignored (mcpg decides by information-flow policy, not by a list of tools)`] : []),
      ...(s.disabled ? [`servers.${name}: disabled, so it is not started`] : []),
      ]),
    ],
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

/** gh-aw-mcpg's gateway keys, and what mcpg calls them. */
const GH_AW_GATEWAY: Record<string, string> = {
  startupTimeout: 'startup_timeout',
  toolTimeout: 'tool_timeout',
  domain: 'domain',
  payloadDir: 'payload_dir',
  payloadSizeThreshold: 'payload_size_threshold',
  payloadPathPrefix: 'payload_path_prefix',
};
/** gh-aw-mcpg's keys that mcpg accepts and does not act on (each is a warning). */
const GH_AW_IGNORED = ['keepaliveInterval', 'trustedBots', 'forcePublicRepos', 'sinkVisibilityExemptServers'];

/**
 * gh-aw-mcpg's JSON config (what GitHub Agentic Workflows write to its stdin), as an mcpg
 * config: `container` servers run as `docker run -i --rm ...` (env passed by name, mounts
 * checked as host:container:ro|rw), the gateway's camelCase keys, `agentId`/`agentIds`/`apiKey`
 * as agents, and `guard-policies`: `write-sink` as mcpg's write-sink guard, `allow-only` as the
 * guard named by MCPG_ALLOW_ONLY_GUARD (a path or a registry source) with that policy. A config
 * in mcpg's own shape passes as it is.
 */
function fromGhAw(raw: unknown, file: string, env: NodeJS.ProcessEnv, notes: string[]): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const doc = raw as Record<string, unknown>;
  const gateway = doc.gateway as Record<string, unknown> | undefined;
  const servers = (doc.mcpServers ?? doc.servers) as Record<string, Record<string, unknown>> | undefined;
  const ghaw =
    (gateway && typeof gateway === 'object' && ['port', 'agentId', 'agentIds', 'apiKey', ...Object.keys(GH_AW_GATEWAY), ...GH_AW_IGNORED, 'sessionTimeout', 'opentelemetry'].some((k) => k in gateway)) ||
    (servers && typeof servers === 'object' && Object.values(servers).some((s) => s && typeof s === 'object' && ('container' in s || 'guard-policies' in s)));
  if (!ghaw) return raw;
  const fail = (path: string, why: string) => new McpgError('CONFIG_INVALID', `${file}: ${path}: ${why}`);
  const out: Record<string, unknown> = { ...doc };
  if (gateway && typeof gateway === 'object') {
    const g: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(gateway)) {
      if (k in GH_AW_GATEWAY) g[GH_AW_GATEWAY[k]!] = v;
      else if (k === 'port') {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65_535) throw fail('gateway.port', 'expected a port number (1-65535)');
        g.listen = `127.0.0.1:${v}`;
      } else if (k === 'agentId' || k === 'apiKey') g.agents = { ...(g.agents as object), agent: v };
      else if (k === 'agentIds') {
        if (!Array.isArray(v) || !v.length) throw fail('gateway.agentIds', 'expected a non-empty list of agent identifiers');
        g.agents = { ...(g.agents as object), ...Object.fromEntries(v.map((id, i) => [`agent-${i + 1}`, id])) };
      } else if (k === 'sessionTimeout') g.session_timeout = goDuration(v, () => fail('gateway.sessionTimeout', 'expected a duration such as "30m" or "4h"'));
      else if (k === 'opentelemetry') {
        // Its endpoint is taken; the rest of it mcpg does not act on.
        const o = v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
        if (typeof o.endpoint === 'string') g.opentelemetry = { endpoint: o.endpoint };
        const rest = Object.keys(o).filter((key) => key !== 'endpoint');
        if (typeof o.endpoint !== 'string' || rest.length) notes.push(`gateway.opentelemetry: accepted from gh-aw-mcpg's config; mcpg takes its endpoint only${rest.length ? ` (not ${rest.join(', ')})` : ''}`);
      } else if (GH_AW_IGNORED.includes(k)) notes.push(`gateway.${k}: accepted from gh-aw-mcpg's config; mcpg does not act on it`);
      else g[k] = v;
    }
    if ('agentId' in gateway && 'agentIds' in gateway) throw fail('gateway', 'agentId and agentIds are exclusive: give one');
    out.gateway = g;
  }
  if (servers && typeof servers === 'object') {
    const converted: Record<string, unknown> = {};
    const guards: Record<string, unknown> = { ...(doc.guards as object) };
    for (const [name, s] of Object.entries(servers)) {
      if (!s || typeof s !== 'object') {
        converted[name] = s;
        continue;
      }
      const { container, entrypoint, entrypointArgs, mounts, 'guard-policies': policies, tools, ...rest } = s;
      const server: Record<string, unknown> = { ...rest };
      // Informational in gh-aw-mcpg's config (where the server was installed from).
      delete server.registry;
      if (Array.isArray(tools) && !(tools.length === 1 && tools[0] === '*')) server.tools = tools;
      if (container !== undefined) {
        if (typeof container !== 'string' || !container) throw fail(`mcpServers.${name}.container`, 'expected an image name');
        if (server.type === 'http') throw fail(`mcpServers.${name}`, 'a server is either a container (stdio) or a url (http), not both');
        const mountArgs = ((mounts ?? []) as unknown[]).flatMap((m, i) => {
          if (typeof m !== 'string' || !/^\/[^:]*:\/[^:]*:(ro|rw)$/.test(m)) throw fail(`mcpServers.${name}.mounts.${i}`, 'expected "/host/path:/container/path:ro" (or :rw), both paths absolute');
          return ['-v', m];
        });
        const envNames = Object.keys((server.env ?? {}) as object).flatMap((k) => ['-e', k]);
        const entryArgs = (entrypointArgs ?? []) as unknown[];
        if (!entryArgs.every((a) => typeof a === 'string')) throw fail(`mcpServers.${name}.entrypointArgs`, 'expected a list of strings');
        server.command = 'docker';
        server.args = ['run', '-i', '--rm', ...envNames, ...mountArgs, ...(typeof entrypoint === 'string' ? ['--entrypoint', entrypoint] : []), container, ...(entryArgs as string[])];
        delete server.type;
      } else if (mounts !== undefined) throw fail(`mcpServers.${name}.mounts`, 'mounts apply to container (stdio) servers only');
      if (policies && typeof policies === 'object') {
        const p = policies as Record<string, unknown>;
        if ('write-sink' in p) {
          const sink = (p['write-sink'] ?? {}) as { accept?: unknown; 'sink-visibility'?: unknown };
          // A public sink accepts no secrecy at all, whatever its accept list says (gh-aw's rule).
          const accept = sink['sink-visibility'] === 'public' ? [] : sink.accept;
          guards[`${name}-write-sink`] = { builtin: 'write-sink', policy: { accept } };
          server.guard = `${name}-write-sink`;
        } else if ('allow-only' in p || 'allowonly' in p) {
          const source = env.MCPG_ALLOW_ONLY_GUARD;
          if (!source) throw fail(`mcpServers.${name}.guard-policies`, 'an allow-only policy needs a guard that reads it: set MCPG_ALLOW_ONLY_GUARD to its path or registry source (e.g. repo-visibility@^1)');
          guards[`${name}-allow-only`] = { ...(/^[^/.][^/]*@/.test(source) ? { source } : { path: source }), policy: p };
          server.guard = `${name}-allow-only`;
        } else throw fail(`mcpServers.${name}.guard-policies`, 'expected write-sink or allow-only');
      }
      converted[name] = server;
    }
    if ('mcpServers' in doc) out.mcpServers = converted;
    else out.servers = converted;
    out.guards = guards;
  }
  return out;
}

/** Go's duration strings, as gh-aw-mcpg reads sessionTimeout ("90s", "30m", "4h", "1h30m"), in seconds. */
function goDuration(value: unknown, fail: () => McpgError): number {
  if (typeof value !== 'string' || !/^(\d+(\.\d+)?(h|m|s|ms))+$/.test(value)) throw fail();
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let total = 0;
  for (const [, n, , u] of value.matchAll(/(\d+(\.\d+)?)(h|ms|m|s)/g)) total += Number(n) * unit[u!]!;
  if (total <= 0) throw fail();
  return total;
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
