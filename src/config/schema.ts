import { z } from 'zod';
import { parseOciRef } from '../supply/oci-ref.ts';

/** The config file's shape. Defaults are filled here, once; the rest of mcpg reads `Config`. */

export const MODES = ['strict', 'filter', 'propagate'] as const;
export type Mode = (typeof MODES)[number];

const seconds = z.number().positive().max(86_400);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'letters, digits, "-" and "_", not starting with "-" or "_"');
// "a" and "a_" would both claim the tool name "a____b" ("_b" of one, "b" of the other): a server
// name must neither contain "___" nor end with "_", so `<server>___<tool>` reads back one way.
const serverName = name
  .refine((n) => !n.includes('___'), 'must not contain "___" (it separates server and tool names)')
  .refine((n) => !n.endsWith('_'), 'must not end with "_" (its tool names could then be read as another server\'s)');

/**
 * A value that must match the one case whose key it has. Unlike `z.union`, errors point into
 * the case that applies (`servers.x.args.0: expected string`), not at the union as a whole.
 */
function byKey<T extends readonly (readonly [string, z.ZodObject])[]>(cases: T, message: string) {
  const known = new Set(cases.flatMap(([, schema]) => Object.keys(schema.shape)));
  return z.unknown().transform((value, ctx): z.output<T[number][1]> => {
    const hits = value && typeof value === 'object' ? cases.filter(([key]) => key in value) : [];
    if (hits.length !== 1) {
      // A typo of the deciding key (`comand`) is named first: it is the likely cause.
      const unknown = value && typeof value === 'object' ? Object.keys(value).filter((k) => !known.has(k)) : [];
      if (unknown.length) ctx.addIssue({ code: 'unrecognized_keys', keys: unknown, input: value } as never);
      ctx.addIssue({ code: 'custom', message: hits.length ? `${message}, not several` : message });
      return z.NEVER;
    }
    // Parsed once per process: no code generated for the case (as configSchema.safeParse in load.ts).
    const parsed = hits[0]![1].safeParse(value, { jitless: true });
    if (parsed.success) return parsed.data as z.output<T[number][1]>;
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, input: value } as never);
    return z.NEVER;
  });
}

const mebibytes = z.number().positive().max(1024);

/** What every server may set; the timeouts and the size limit default to [gateway]'s. */
const serverCommon = {
  guard: name.optional(),
  tools: z.array(z.string()).optional(),
  startup_timeout: seconds.optional(),
  tool_timeout: seconds.optional(),
  max_total_timeout: seconds.optional(),
  max_message_mib: mebibytes.optional(),
  /** Definitions that differ from their pins: withheld (strict), logged (warn), or not checked. */
  pin: z.enum(['strict', 'warn', 'off']).optional(),
  /** `mcpg serve`: one process of this server per agent (for servers that keep client state). */
  per_agent: z.boolean().optional(),
  /** A write DIFC forbids: denied, or put to the human through the agent's client (elicitation). */
  on_violation: z.enum(['deny', 'ask']).default('deny'),
  /**
   * The protocol era to speak: asked (server/discover, then initialize), or fixed: "2026-07-28"
   * only, or "2025-11-25" (initialize, no probe: for a server that leaves unknown requests unanswered).
   */
  protocol: z.enum(['auto', '2026-07-28', '2025-11-25']).default('auto'),
  /** Cline's keys: a disabled server is left out; autoApprove means nothing to mcpg (a warning says so). */
  disabled: z.boolean().optional(),
  autoApprove: z.array(z.string()).optional(),
};

const stdioServer = z.strictObject({
  type: z.literal('stdio').optional(),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional(),
  ...serverCommon,
});

/**
 * OAuth for an HTTP server, as the MCP authorization spec has it. Without this table mcpg still
 * answers a server's 401 as an OAuth client (discovery, dynamic registration, PKCE); the table
 * names a pre-registered client, a client metadata document, scopes, or a grant for machines:
 * client credentials, or a JWT the environment holds (workload identity federation, RFC 7523).
 */
const oauth = z.strictObject({
  client_id: z.string().min(1).optional(),
  client_secret: z.string().min(1).optional(),
  /** An https URL serving this client's metadata document, used as its client_id where the server supports it. */
  client_metadata_url: z.url({ protocol: /^https$/ }).optional(),
  scopes: z.array(z.string().regex(/^[^\s"\\]+$/, 'a scope without spaces or quotes')).optional(),
  grant: z.enum(['authorization_code', 'client_credentials', 'jwt_bearer', 'enterprise']).default('authorization_code'),
  /** The workload's JWT for the jwt_bearer grant (e.g. "${ACTIONS_ID_TOKEN}"), as the grant's assertion. */
  assertion: z.string().min(1).optional(),
  /**
   * Enterprise-managed authorization (SEP-990): the person's ID token from the company's identity
   * provider (e.g. "${IDP_ID_TOKEN}"), exchanged at its token endpoint for an identity assertion
   * grant (RFC 8693), which the server's authorization server takes as a JWT bearer grant (RFC 7523).
   */
  id_token: z.string().min(1).optional(),
  idp_token_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  idp_client_id: z.string().min(1).optional(),
  idp_client_secret: z.string().min(1).optional(),
  /** PEM private key for private_key_jwt client authentication (client_credentials). */
  private_key: z.string().min(1).optional(),
  signing_alg: z.string().default('RS256'),
  /**
   * The authorization server's issuer URL, when it is not on the MCP server's own host: a
   * client_secret or private_key is sent to no other host than these two.
   */
  authorization_server: z.url({ protocol: /^https$/ }).optional(),
});
export type OAuthConfig = z.infer<typeof oauth>;

const httpServer = z.strictObject({
  // `sse`: the legacy HTTP+SSE transport, which many servers still speak.
  type: z.enum(['http', 'streamable-http', 'sse']).optional(),
  url: z.url({ protocol: /^https?$/ }),
  headers: z.record(z.string(), z.string()).default({}),
  oauth: oauth
    .optional()
    .refine((o) => o?.grant !== 'client_credentials' || o.client_id, 'the client_credentials grant needs a client_id')
    .refine((o) => o?.grant !== 'client_credentials' || o.client_secret || o.private_key, 'the client_credentials grant needs a client_secret or a private_key')
    .refine((o) => o?.grant !== 'jwt_bearer' || (o.client_id && o.assertion), 'the jwt_bearer grant needs a client_id and an assertion (the workload\'s JWT, e.g. "${ACTIONS_ID_TOKEN}")')
    .refine(
      (o) => o?.grant !== 'enterprise' || (o.client_id && o.id_token && o.idp_token_endpoint && o.idp_client_id),
      'the enterprise grant needs client_id (and client_secret) at the server\'s authorization server, and id_token, idp_token_endpoint and idp_client_id of the identity provider',
    ),
  ...serverCommon,
});


const server = byKey(
  [
    ['command', stdioServer],
    ['url', httpServer],
  ] as const,
  'a server needs one of `command` (stdio) or `url` (streamable HTTP, or SSE with type = "sse")',
);

export const limitsSchema = z.strictObject({
  memory_mib: z.number().int().min(1).max(4096).default(32),
  // Instructions per call: a runaway guard stops within about 100 ms of CPU (scripts/bench-guard-limits.ts).
  fuel: z.number().int().positive().default(300_000_000),
  // Wall clock for one guard call, backend calls included.
  timeout_ms: z.number().int().min(1).max(600_000).default(5_000),
  input_mib: z.number().int().min(1).max(256).default(8),
  output_mib: z.number().int().min(1).max(256).default(16),
  backend_calls: z.number().int().min(0).max(10_000).default(50),
  backend_tools: z.array(z.string()).optional(),
  instances: z.number().int().min(1).max(64).default(4),
});
export type Limits = z.infer<typeof limitsSchema>;

const signer = z
  .strictObject({
    repository: z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'OWNER/REPO').optional(),
    workflow: z.string().optional(),
    ref: z.string().optional(),
    issuer: z.string().default('https://token.actions.githubusercontent.com'),
    identity: z.string().optional(),
    identity_regex: z.string().optional(),
    predicate_type: z.string().optional(),
  })
  // An issuer alone lets any workflow of any repository through: a signer must pin who built it.
  .refine(
    (s) => s.repository !== undefined || s.identity !== undefined || s.identity_regex !== undefined,
    'a signer must say who built the guard: add repository = "OWNER/REPO" (and normally workflow = ' +
      '"OWNER/REPO/.github/workflows/FILE.yml"), or an exact identity, or an identity_regex',
  );

const guardCommon = {
  policy: z.unknown().optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits').optional(),
  signer: signer.optional(),
  /** A remote guard without a signer is refused unless this says so, and sha256 pins it. */
  unsigned: z.literal(true).optional(),
  bundle: z.string().optional(),
  trusted_root: z.string().optional(),
  limits: limitsSchema.default(limitsSchema.parse({}, { jitless: true })),
  /** Backend tools mcpg answers itself for this guard (GitHub's REST API; see README). */
  host_tools: z.array(z.enum(['get_collaborator_permission'])).optional(),
};

/** A guard fetched from elsewhere names who signed it, or pins its bytes and says it is unsigned. */
const signedOrPinned = (g: { signer?: unknown; unsigned?: true; sha256?: string }, ctx: z.RefinementCtx) => {
    if (g.signer && g.unsigned) ctx.addIssue({ code: 'custom', path: ['unsigned'], message: 'a guard with a signer is not unsigned: remove one of them' });
    else if (!g.signer && !g.unsigned) {
      ctx.addIssue({
        code: 'custom',
        path: ['signer'],
        message: 'a remote guard needs a signer (signer = { repository = "OWNER/REPO", workflow = "..." }); to accept it by its hash alone, set unsigned = true and sha256 = "..."',
      });
    } else if (g.unsigned && !g.sha256) ctx.addIssue({ code: 'custom', path: ['sha256'], message: 'an unsigned guard must pin its bytes: add sha256 = "<64 hex digits>"' });
};

const urlGuard = z.strictObject({ url: z.url({ protocol: /^https?$/ }), ...guardCommon }).superRefine(signedOrPinned);
/** `oci = "ghcr.io/OWNER/NAME:TAG"` (or `@sha256:…`): a guard pushed to an OCI registry. */
const ociGuard = z
  .strictObject({
    oci: z.string().refine((r) => {
      try {
        parseOciRef(r);
        return true;
      } catch {
        return false;
      }
    }, 'an OCI reference: REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST (e.g. ghcr.io/OWNER/NAME:1.0.0)'),
    ...guardCommon,
  })
  .superRefine(signedOrPinned);

const guard = byKey(
  [
    ['builtin', z.strictObject({ builtin: z.enum(['noop', 'write-sink']), policy: z.unknown().optional() })],
    ['path', z.strictObject({ path: z.string().min(1), ...guardCommon })],
    ['url', urlGuard],
    ['oci', ociGuard],
    ['source', z.strictObject({ source: z.string().min(1), ...guardCommon })],
  ] as const,
  'a guard needs one of `builtin`, `path`, `url`, `oci` or `source`',
);

export const configSchema = z
  .strictObject({
    gateway: z
      .strictObject({
        // Unset: the guard's difc_mode, else strict (see README, "Modes").
        mode: z.enum(MODES).optional(),
        startup_timeout: seconds.default(30),
        tool_timeout: seconds.default(120),
        max_total_timeout: seconds.default(600),
        // How long a question to the human (on_violation = "ask") waits for an answer.
        ask_timeout: seconds.default(120),
        // Largest message mcpg reads from the agent, and from each backend (a server may set its own).
        max_request_mib: mebibytes.default(8),
        max_message_mib: mebibytes.default(64),
        lock: z.string().default('guards.lock'),
        trusted_root: z.string().optional(),
        // `mcpg serve`: the agents it admits (name -> the token their Authorization header carries).
        agents: z.record(name, z.string().min(8, 'a token of at least 8 characters')).optional(),
        // `mcpg serve`: what each agent may use: servers by name, tools as <server>___<tool> patterns (* any characters). Unset: all.
        agent_policies: z
          .record(name, z.strictObject({ servers: z.array(z.string().min(1)).optional(), tools: z.array(z.string().min(1).max(256)).max(1000).optional() }))
          .optional(),
        // `mcpg serve`: where it listens (HOST:PORT), and the host name clients reach it by.
        listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'HOST:PORT').optional(),
        domain: z.string().regex(/^[A-Za-z0-9.-]+$/, 'a host name').optional(),
        // `mcpg serve`: an idle session is closed after this long; calls in flight per agent; calls per session.
        session_timeout: seconds.default(21_600),
        max_concurrent_calls: z.number().int().min(1).max(10_000).default(64),
        max_calls_per_session: z.number().int().min(1).default(1_000_000),
        // `mcpg serve` as an OAuth protected resource: JWT access tokens of this issuer name the agent.
        oauth: z
          .strictObject({
            issuer: z.url({ protocol: /^https?$/ }),
            audience: z.string().min(1),
            jwks_url: z.url({ protocol: /^https?$/ }).optional(),
            agent_claim: z.string().min(1).default('sub'),
          })
          .optional(),
        // Tool results larger than payload_size_threshold bytes are written under payload_dir/<agent>/.
        payload_dir: z.string().regex(/^\//, 'an absolute path').optional(),
        payload_size_threshold: z.number().int().min(1).default(524_288),
        payload_path_prefix: z.string().optional(),
        // OpenTelemetry traces over OTLP/HTTP (the collector's base URL; traces go to its /v1/traces).
        opentelemetry: z
          .strictObject({
            endpoint: z.url({ protocol: /^https?$/ }),
            service_name: z.string().min(1).default('mcpg'),
            headers: z.record(z.string(), z.string()).default({}),
          })
          .optional(),
        // What replicas share (labels, calls in flight, sessions): Redis or Valkey. Unset: this process's memory.
        state: z
          .string()
          .refine((s) => {
            try {
              return ['redis:', 'rediss:'].includes(new URL(s).protocol);
            } catch {
              return false;
            }
          }, 'a redis:// or rediss:// URL (redis://HOST:PORT/DB)')
          .optional(),
      })
      .default({
        startup_timeout: 30,
        tool_timeout: 120,
        max_total_timeout: 600,
        ask_timeout: 120,
        max_request_mib: 8,
        max_message_mib: 64,
        lock: 'guards.lock',
        session_timeout: 21_600,
        max_concurrent_calls: 64,
        max_calls_per_session: 1_000_000,
        payload_size_threshold: 524_288,
      }),
    servers: z.record(serverName, server).refine((s) => Object.keys(s).length > 0, 'at least one server is needed'),
    // VS Code's mcp.json: what it would prompt for (read here from the environment, see load.ts).
    inputs: z.array(z.looseObject({ id: z.string(), description: z.string().optional() })).optional(),
    guards: z.record(name, guard).default({}),
  })
  .superRefine((cfg, ctx) => {
    for (const [agent, policy] of Object.entries(cfg.gateway.agent_policies ?? {})) {
      if (cfg.gateway.agents && !(agent in cfg.gateway.agents)) ctx.addIssue({ code: 'custom', path: ['gateway', 'agent_policies', agent], message: `names agent "${agent}", which [gateway] agents does not` });
      for (const [i, s] of (policy.servers ?? []).entries()) {
        if (!(s in cfg.servers)) ctx.addIssue({ code: 'custom', path: ['gateway', 'agent_policies', agent, 'servers', i], message: `names server "${s}", which is not defined under [servers]` });
      }
    }
    for (const [serverName, s] of Object.entries(cfg.servers)) {
      if (s.guard && s.guard !== 'noop' && !(s.guard in cfg.guards)) {
        ctx.addIssue({
          code: 'custom',
          path: ['servers', serverName, 'guard'],
          message: `names guard "${s.guard}", which is not defined under [guards]`,
        });
      }
    }
  });

export type ServerConfig = z.infer<typeof server>;
export type GuardConfig = z.infer<typeof guard>;

/** Every key a config can have, anywhere: "did you mean" looks here for a typo's likely intent. */
export const CONFIG_KEYS = [
  ...new Set([
    'gateway', 'servers', 'guards', 'mcpServers', 'builtin', 'path', 'url', 'oci', 'source',
    ...Object.keys(configSchema.shape.gateway.unwrap().shape),
    ...Object.keys(stdioServer.shape),
    ...Object.keys(httpServer.shape),
    ...Object.keys(guardCommon),
    ...Object.keys(limitsSchema.shape),
    ...Object.keys(signer.shape),
    ...Object.keys(oauth.shape),
  ]),
];
