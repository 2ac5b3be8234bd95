import semver from 'semver';
import { z } from 'zod';
import embedded from '../../registry/index.json' with { type: 'json' };
import { McpgError, errorMessage, firstIssue, fsReason } from '../shared/errors.ts';
import { readUserFile } from '../shared/files.ts';
import { fetchBytes } from '../supply/fetch.ts';
import type { RegistryPick } from '../supply/resolve.ts';

/** The plugin registry: registry/index.json (embedded in the binary), or one given by --registry. */

const indexSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(1),
  guards: z.record(
    z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    z.strictObject({
      description: z.string(),
      repository: z.string(),
      signer: z.strictObject({
        repository: z.string().optional(),
        workflow: z.string().optional(),
        ref: z.string().optional(),
        issuer: z.string(),
        identity: z.string().optional(),
        identity_regex: z.string().optional(),
      }),
      versions: z.record(
        z.string().refine((v) => semver.valid(v) !== null, 'a semantic version'),
        z
          .strictObject({
            url: z.url().optional(),
            oci: z.string().regex(/^[^/\s]+\/[^@\s]+@sha256:[0-9a-f]{64}$/, 'REGISTRY/REPOSITORY@sha256:DIGEST (an OCI artifact pinned by digest)').optional(),
            sha256: z.string().regex(/^[0-9a-f]{64}$/),
            yanked: z.string().min(1).optional(),
          })
          .refine((v) => (v.url === undefined) !== (v.oci === undefined), 'a version has one of `url` or `oci`'),
      ),
    }),
  ),
});

export type Index = z.infer<typeof indexSchema>;

export function parseIndex(raw: unknown, where: string): Index {
  const r = indexSchema.safeParse(raw);
  if (!r.success) {
    throw new McpgError('CONFIG_INVALID', `${where}: ${firstIssue(r.error)}`);
  }
  return r.data;
}

/** The index to use: `--registry URL|FILE`, or the one built in. */
export async function loadIndex(source?: string): Promise<Index> {
  if (!source) return parseIndex(embedded, 'built-in registry index');
  let text: string;
  try {
    const max = 4 * 1024 * 1024;
    text = (/^https?:/.test(source) ? Buffer.from(await fetchBytes(source, { maxBytes: max })) : readUserFile(source, max)).toString('utf8');
  } catch (err) {
    if (err instanceof McpgError) throw err;
    throw new McpgError('CONFIG_READ', `registry ${source}: ${fsReason(err)}`);
  }
  try {
    return parseIndex(JSON.parse(text), source);
  } catch (err) {
    if (err instanceof McpgError) throw err;
    throw new McpgError('CONFIG_PARSE', `registry ${source}: not JSON (${errorMessage(err)})`);
  }
}

/** `registry:NAME@RANGE`, `NAME@RANGE` or `NAME` (the newest version). */
export function parseName(source: string): { name: string; range: string } {
  const m = /^(?:registry:)?([a-z0-9][a-z0-9-]*)(?:@(.+))?$/.exec(source);
  if (!m) throw new McpgError('CONFIG_INVALID', `"${source}" is not a registry name (NAME or NAME@RANGE)`);
  return { name: m[1]!, range: m[2] ?? '*' };
}

/** The newest version in `range` that is not yanked; a yanked match is refused with its reason. */
export function pick(index: Index, source: string, guard = source): RegistryPick & { version: string; name: string } {
  const { name, range } = parseName(source);
  const entry = index.guards[name];
  if (!entry) throw new McpgError('CONFIG_INVALID', `guard "${guard}": the registry has no guard named "${name}" (see \`mcpg registry list\`)`);
  if (!semver.validRange(range)) throw new McpgError('CONFIG_INVALID', `guard "${guard}": "${range}" is not a version range`);
  const all = Object.keys(entry.versions);
  const version = semver.maxSatisfying(all.filter((v) => !entry.versions[v]!.yanked), range);
  if (!version) {
    const yanked = semver.maxSatisfying(all, range);
    if (yanked) {
      throw new McpgError(
        'SUPPLY_LOCK',
        `guard "${guard}": ${name}@${yanked} is yanked (${entry.versions[yanked]!.yanked}), and no other version matches ${range}; widen the range`,
      );
    }
    throw new McpgError('CONFIG_INVALID', `guard "${guard}": no version of ${name} matches ${range} (there are ${all.join(', ')})`);
  }
  const v = entry.versions[version]!;
  return { name, version, url: v.url, oci: v.oci, sha256: v.sha256, signer: entry.signer };
}

/** What the registry says of locked bytes: their version, and why it is yanked if it is. */
export function lockedVersion(index: Index, source: string, sha256: string): { name: string; version?: string; yanked?: string } {
  const { name } = parseName(source);
  const versions = index.guards[name]?.versions ?? {};
  const version = Object.keys(versions).find((v) => versions[v]!.sha256 === sha256);
  return { name, version, yanked: version ? versions[version]!.yanked : undefined };
}

/** For `mcpg guard outdated`: the newest version in range and the newest of all, yanked ones aside. */
export function newest(index: Index, source: string): { inRange?: string; latest?: string } {
  const { name, range } = parseName(source);
  const versions = index.guards[name]?.versions ?? {};
  const usable = Object.keys(versions).filter((v) => !versions[v]!.yanked);
  return { inRange: semver.maxSatisfying(usable, range) ?? undefined, latest: semver.rsort([...usable])[0] };
}
