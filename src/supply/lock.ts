import { createHash } from 'node:crypto';
import type { Server } from '../config/load.ts';
import { z } from 'zod';
import { McpgError, errorMessage, firstIssue, fsReason } from '../shared/errors.ts';
import { readUserFile, replaceFile } from '../shared/files.ts';

/** guards.lock: JSON, versioned, keys sorted, one entry per guard, stable diffs. */
export const LOCK_VERSION = 1;

const signerSchema = z.strictObject({
  issuer: z.string(),
  san: z.string(),
  repository: z.string().optional(),
  ref: z.string().optional(),
  workflow: z.string().optional(),
  bundle_sha256: z.string(),
});

const entrySchema = z.strictObject({
  /** What the config names: `url:…`, `path:…`, `oci:…` or `registry:…`. */
  source: z.string(),
  /** Where the bytes came from (a registry name resolves to a URL or an OCI reference). */
  url: z.string().optional(),
  /** For an OCI guard: REGISTRY/REPOSITORY@sha256:… of the manifest that names the module. */
  oci: z.string().optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  /** For a `.tar.gz` guard package: the digest of the guard.wasm inside. */
  wasm_sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  signer: signerSchema.optional(),
});

const hex = z.string().regex(/^[0-9a-f]{64}$/);
/** One pinned definition: its digest, and its description for a reviewer (and `tools diff`). */
const pinSchema = z.strictObject({ sha256: hex, description: z.string() });
const serverPinsSchema = z.strictObject({
  /** How the server is started (command and args, or url), hashed: pins belong to that server. */
  server: hex,
  tools: z.record(z.string(), pinSchema),
  prompts: z.record(z.string(), pinSchema),
  resource_templates: z.record(z.string(), pinSchema),
});

const lockSchema = z.strictObject({
  version: z.literal(LOCK_VERSION),
  guards: z.record(z.string(), entrySchema),
  /** Pinned tool, prompt and resource template definitions, per server (`mcpg tools lock`). */
  tools: z.record(z.string(), serverPinsSchema).optional(),
});

export type LockEntry = z.infer<typeof entrySchema>;
export type ServerPins = z.infer<typeof serverPinsSchema>;
export type Pin = z.infer<typeof pinSchema>;
export type Lock = z.infer<typeof lockSchema>;

/** The largest guards.lock mcpg reads: guards and every server's tool pins. */
const MAX_LOCK_BYTES = 16 * 1024 * 1024;

export function readLock(file: string): Lock {
  let text: string;
  try {
    text = readUserFile(file, MAX_LOCK_BYTES).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: LOCK_VERSION, guards: {} };
    throw new McpgError('SUPPLY_LOCK', `${file}: cannot read: ${fsReason(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new McpgError('SUPPLY_LOCK', `${file}: not valid JSON (${errorMessage(err)}); restore it or run \`mcpg guard lock --update\``);
  }
  const parsed = lockSchema.safeParse(raw, { jitless: true }); // once per process, as the config is
  if (!parsed.success) {
    throw new McpgError('SUPPLY_LOCK', `${file}: ${firstIssue(parsed.error)}`);
  }
  return parsed.data;
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sorted(v)]),
    );
  }
  return value;
}

export function writeLock(file: string, lock: Lock): void {
  try {
    replaceFile(file, `${JSON.stringify(sorted(lock), null, 2)}\n`);
  } catch (err) {
    throw new McpgError('SUPPLY_LOCK', `${file}: cannot write: ${fsReason(err)}`);
  }
}

/** Canonical JSON: keys sorted, no whitespace (what pin digests are taken of). */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** How a server is started (command and args, or url): its pins are void when that changes. */
export function serverDigest(server: Server): string {
  const how = 'url' in server ? { url: server.url } : { command: server.command, args: server.args };
  return createHash('sha256').update(canonical(how)).digest('hex');
}
