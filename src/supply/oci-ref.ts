import { McpgError } from '../shared/errors.ts';

/** `REGISTRY/REPOSITORY[:TAG][@sha256:HEX]`; an `oci://` prefix is allowed. */
export interface OciRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/;

export function parseOciRef(text: string): OciRef {
  const bad = (why: string) =>
    new McpgError('CONFIG_INVALID', `"${text}" is not an OCI reference (${why}); write REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST, e.g. ghcr.io/OWNER/NAME:1.0.0`);
  const s = text.replace(/^oci:\/\//, '');
  if (s.length > 512) throw bad('longer than 512 characters');
  const slash = s.indexOf('/');
  const registry = s.slice(0, slash).toLowerCase();
  // As docker tells a registry from a Docker Hub user: a dot, a port, or localhost. mcpg has no
  // default registry: a guard says where it comes from.
  if (slash < 0 || !HOST.test(registry) || !/[.:[]|^localhost$/.test(registry)) throw bad('it must start with the registry host, such as ghcr.io');
  let rest = s.slice(slash + 1);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('a digest is sha256: and 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a tag`);
  }
  if (!REPOSITORY.test(rest)) throw bad(`"${rest}" is not a repository name (lowercase, / between parts)`);
  if (!tag && !digest) throw bad('it needs a :TAG or an @sha256: digest');
  return { registry, repository: rest, tag, digest };
}

export const formatRef = (r: OciRef): string => `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
