import { z } from 'zod';

/** The config file's shape. Defaults are filled here, once; the rest of mcpg reads `Config`. */

export const MODES = ['strict', 'filter', 'propagate'] as const;
export type Mode = (typeof MODES)[number];

const seconds = z.number().positive().max(86_400);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'letters, digits, "-" and "_", not starting with "-" or "_"');
const serverName = name.refine((n) => !n.includes('___'), 'must not contain "___" (it separates server and tool names)');

/**
 * A value that must match the one case whose key it has. Unlike `z.union`, errors point into
 * the case that applies (`servers.x.args.0: expected string`), not at the union as a whole.
 */
function byKey<T extends readonly (readonly [string, z.ZodType])[]>(cases: T, message: string) {
  return z.unknown().transform((value, ctx): z.output<T[number][1]> => {
    const hits = value && typeof value === 'object' ? cases.filter(([key]) => key in value) : [];
    if (hits.length !== 1) {
      ctx.addIssue({ code: 'custom', message: hits.length ? `${message}, not several` : message });
      return z.NEVER;
    }
    const parsed = hits[0]![1].safeParse(value);
    if (parsed.success) return parsed.data as z.output<T[number][1]>;
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, input: value } as never);
    return z.NEVER;
  });
}

const stdioServer = z.strictObject({
  type: z.literal('stdio').optional(),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional(),
  guard: name.optional(),
  tools: z.array(z.string()).optional(),
  startup_timeout: seconds.optional(),
  tool_timeout: seconds.optional(),
});

const httpServer = z.strictObject({
  type: z.enum(['http', 'streamable-http']).optional(),
  url: z.url({ protocol: /^https?$/ }),
  headers: z.record(z.string(), z.string()).default({}),
  guard: name.optional(),
  tools: z.array(z.string()).optional(),
  startup_timeout: seconds.optional(),
  tool_timeout: seconds.optional(),
});

const server = byKey(
  [
    ['command', stdioServer],
    ['url', httpServer],
  ] as const,
  'a server needs one of `command` (stdio) or `url` (streamable HTTP)',
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

const signer = z.strictObject({
  repository: z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'OWNER/REPO').optional(),
  workflow: z.string().optional(),
  ref: z.string().optional(),
  issuer: z.string().default('https://token.actions.githubusercontent.com'),
  identity: z.string().optional(),
  identity_regex: z.string().optional(),
  predicate_type: z.string().optional(),
});

const guardCommon = {
  policy: z.unknown().optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits').optional(),
  signer: signer.optional(),
  bundle: z.string().optional(),
  trusted_root: z.string().optional(),
  limits: limitsSchema.default(limitsSchema.parse({})),
};

const guard = byKey(
  [
    ['builtin', z.strictObject({ builtin: z.enum(['noop', 'write-sink']), policy: z.unknown().optional() })],
    ['path', z.strictObject({ path: z.string().min(1), ...guardCommon })],
    ['url', z.strictObject({ url: z.url({ protocol: /^https?$/ }), ...guardCommon })],
    ['source', z.strictObject({ source: z.string().min(1), ...guardCommon })],
  ] as const,
  'a guard needs one of `builtin`, `path`, `url` or `source`',
);

export const configSchema = z
  .strictObject({
    gateway: z
      .strictObject({
        mode: z.enum(MODES).default('strict'),
        startup_timeout: seconds.default(30),
        tool_timeout: seconds.default(120),
        lock: z.string().default('guards.lock'),
        trusted_root: z.string().optional(),
      })
      .default({ mode: 'strict', startup_timeout: 30, tool_timeout: 120, lock: 'guards.lock' }),
    servers: z.record(serverName, server).refine((s) => Object.keys(s).length > 0, 'at least one server is needed'),
    guards: z.record(name, guard).default({}),
  })
  .superRefine((cfg, ctx) => {
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
