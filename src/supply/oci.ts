import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { McpgError, errorMessage, firstIssue, fsReason } from '../shared/errors.ts';
import { readUserFile } from '../shared/files.ts';
import { httpsOrLoopback } from '../shared/urls.ts';
import { sha256 } from './cache.ts';
import { type Answer, type ExchangeOptions, NotFound, exchange } from './fetch.ts';
import { DIGEST, type OciRef } from './oci-ref.ts';

/**
 * Guards as OCI artifacts: the distribution API (manifests, blobs, uploads), its token auth, the
 * referrers API with OCI 1.1's referrers-tag fallback, and the Sigstore bundle stored as a
 * referrer the way cosign and actions/attest-build-provenance store it. Everything read is
 * bounded and checked against its digest; nothing is trusted because of where it came from.
 */

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  wasmConfig: 'application/vnd.wasm.config.v0+json',
  wasm: 'application/wasm',
  empty: 'application/vnd.oci.empty.v1+json',
  bundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
} as const;
/** The layer media types a guard module travels as (the CNCF wasm artifact, Istio's, Solo's). */
const WASM_LAYERS = new Set([MEDIA.wasm, 'application/vnd.wasm.content.layer.v1+wasm', 'application/vnd.module.wasm.content.layer.v1+wasm']);
const isBundleType = (t: string | undefined) => !!t && /^application\/vnd\.dev\.sigstore\.bundle(?:\.v0\.\d+)?\+json/.test(t);
const ACCEPT_MANIFEST = [MEDIA.manifest, MEDIA.index, 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');
const EMPTY = new TextEncoder().encode('{}');

const MAX_MANIFEST = 4 * 1024 * 1024;
const MAX_TOKEN_ANSWER = 1024 * 1024;
const MAX_CHALLENGE = 4096;
/** Referrers looked at per manifest: a registry cannot keep mcpg busy with thousands. */
const MAX_REFERRERS = 32;
const MAX_DOCKER_CONFIG = 1024 * 1024;

const descriptor = z.object({
  mediaType: z.string().max(256),
  digest: z.string().regex(DIGEST),
  size: z.number().int().nonnegative(),
  artifactType: z.string().max(256).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Descriptor = z.infer<typeof descriptor>;
const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().max(256).optional(),
  config: descriptor,
  layers: z.array(descriptor).max(64),
  subject: descriptor.optional(),
});
const indexSchema = z.object({ schemaVersion: z.literal(2), mediaType: z.string().optional(), manifests: z.array(descriptor).max(4096) });

function parseJson<T>(bytes: Uint8Array, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new McpgError('SUPPLY_FETCH', `${what}: not JSON (${errorMessage(err)})`);
  }
  return checked(raw, schema, what);
}

function checked<T>(raw: unknown, schema: z.ZodType<T>, what: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new McpgError('SUPPLY_FETCH', `${what}: ${firstIssue(r.error)}`);
  }
  return r.data;
}

/** The one wasm layer of a guard's manifest (an index, or a manifest without one, is refused). */
export function wasmLayer(manifest: Uint8Array, what: string): Descriptor {
  const raw = parseJson(manifest, z.looseObject({ mediaType: z.string().optional(), manifests: z.unknown().optional() }), what);
  if (raw.mediaType === MEDIA.index || raw.manifests !== undefined) {
    throw new McpgError('SUPPLY_FETCH', `${what}: is an image index; name the guard's own manifest by its @sha256: digest`);
  }
  const m = checked(raw, manifestSchema, what);
  const layers = m.layers.filter((l) => WASM_LAYERS.has(l.mediaType));
  if (layers.length !== 1) {
    throw new McpgError('SUPPLY_FETCH', `${what}: has ${layers.length} WebAssembly layers (${[...WASM_LAYERS].join(', ')}); a guard is exactly one`);
  }
  return layers[0]!;
}

/** A canonical digest string of bytes. */
export const digestOf = (bytes: Uint8Array): string => `sha256:${sha256(bytes)}`;

/** An OCI image manifest's bytes: how mcpg writes both of the kinds it pushes. */
function manifestBytes(parts: { artifactType: string; config: Descriptor; layers: Descriptor[]; subject?: Descriptor; annotations?: Record<string, string> }): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, ...parts }));
}

/**
 * The manifest `mcpg guard push` makes for a module: the same bytes always (no timestamps), so
 * an author can know the digest to sign before pushing.
 */
export function guardManifest(wasm: Uint8Array): { config: Uint8Array; manifest: Uint8Array; digest: string } {
  const layer = { mediaType: MEDIA.wasm, digest: digestOf(wasm), size: wasm.length, annotations: { 'org.opencontainers.image.title': 'guard.wasm' } };
  const config = new TextEncoder().encode(JSON.stringify({ architecture: 'wasm', os: 'wasip1', layerDigests: [layer.digest] }));
  const manifest = manifestBytes({ artifactType: MEDIA.wasmConfig, config: { mediaType: MEDIA.wasmConfig, digest: digestOf(config), size: config.length }, layers: [layer] });
  return { config, manifest, digest: digestOf(manifest) };
}

/** A Sigstore bundle as an OCI 1.1 referrer of `subject`, as cosign and attest-build-provenance store it. */
export function bundleReferrer(bundle: Uint8Array, subject: Descriptor): { manifest: Uint8Array; descriptor: Descriptor } {
  const json = JSON.parse(Buffer.from(bundle).toString('utf8')) as { dsseEnvelope?: { payload: string } };
  const annotations: Record<string, string> = { 'dev.sigstore.bundle.content': json.dsseEnvelope ? 'dsse-envelope' : 'message-signature' };
  if (json.dsseEnvelope) {
    const type = (JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString('utf8')) as { predicateType?: unknown }).predicateType;
    if (typeof type === 'string') annotations['dev.sigstore.bundle.predicateType'] = type;
  }
  const manifest = manifestBytes({
    artifactType: MEDIA.bundle,
    config: { mediaType: MEDIA.empty, digest: digestOf(EMPTY), size: EMPTY.length },
    layers: [{ mediaType: MEDIA.bundle, digest: digestOf(bundle), size: bundle.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  });
  return { manifest, descriptor: { mediaType: MEDIA.manifest, digest: digestOf(manifest), size: manifest.length, artifactType: MEDIA.bundle, annotations } };
}

/** The sha256 digests a Sigstore bundle signs: a DSSE statement's subjects, or a message digest. */
export function bundleSubjects(bundle: Uint8Array): string[] {
  const b = JSON.parse(Buffer.from(bundle).toString('utf8')) as {
    dsseEnvelope?: { payload?: string };
    messageSignature?: { messageDigest?: { algorithm?: string; digest?: string } };
  };
  if (b.dsseEnvelope?.payload) {
    const statement = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString('utf8')) as { subject?: { digest?: { sha256?: unknown } }[] };
    return (statement.subject ?? []).flatMap((s) => (typeof s.digest?.sha256 === 'string' ? [s.digest.sha256] : []));
  }
  const m = b.messageSignature?.messageDigest;
  return m?.algorithm === 'SHA2_256' && m.digest ? [Buffer.from(m.digest, 'base64').toString('hex')] : [];
}

export interface Credential {
  username: string;
  password: string;
  /** Where it came from, for messages. */
  from: string;
}

/**
 * The credentials for a registry: its entry in the Docker config ($DOCKER_CONFIG/config.json,
 * else ~/.docker/config.json: `auth`, or `username` and `password`), else GITHUB_TOKEN (or
 * GH_TOKEN) for ghcr.io and for no other host. Credential helpers are not run.
 */
export function registryCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Credential | undefined {
  const file = join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
  let text: string | undefined;
  try {
    text = readUserFile(file, MAX_DOCKER_CONFIG).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new McpgError('CONFIG_READ', `${file}: cannot read: ${fsReason(err)}`);
  }
  if (text !== undefined) {
    let config: { auths?: Record<string, { auth?: unknown; username?: unknown; password?: unknown }> };
    try {
      config = JSON.parse(text) as typeof config;
    } catch (err) {
      throw new McpgError('CONFIG_PARSE', `${file}: not JSON (${errorMessage(err)})`);
    }
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
      // Keys are written as a host, a URL, or Docker Hub's https://index.docker.io/v1/.
      if (key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '').toLowerCase() !== registry || !entry || typeof entry !== 'object') continue;
      if (typeof entry.auth === 'string' && entry.auth) {
        const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = plain.indexOf(':');
        if (colon > 0) return { username: plain.slice(0, colon), password: plain.slice(colon + 1), from: file };
      }
      if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password, from: file };
    }
  }
  const token = env.GITHUB_TOKEN || env.GH_TOKEN;
  if (registry === 'ghcr.io' && token) return { username: env.GITHUB_ACTOR || 'mcpg', password: token, from: env.GITHUB_TOKEN ? 'GITHUB_TOKEN' : 'GH_TOKEN' };
  return undefined;
}

/** `Bearer realm="…",service="…"`: the scheme and its parameters (RFC 9110 auth-params). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  if (header.length > MAX_CHALLENGE) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const rest = m[2]!;
  const param = /\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  for (let at = 0; at < rest.length; at = param.lastIndex) {
    param.lastIndex = at;
    const p = param.exec(rest);
    if (!p || param.lastIndex === at) break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface RegistryOptions {
  /** Who asks, for messages: `guard "NAME"`. */
  label: string;
  offline?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** One registry, as one guard's supply or push reaches it: tokens kept per repository and scope. */
export class OciRegistry {
  readonly host: string;
  readonly #base: string;
  readonly #options: RegistryOptions;
  readonly #tokens = new Map<string, string>();

  constructor(host: string, options: RegistryOptions) {
    this.host = host;
    this.#options = options;
    // A registry on this machine is reached over plain HTTP (as docker does), any other over HTTPS.
    const local = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/.test(host);
    this.#base = `${local ? 'http' : 'https'}://${host}/v2/`;
  }

  #say(message: string, code: 'SUPPLY_FETCH' | 'SUPPLY_HASH' = 'SUPPLY_FETCH'): McpgError {
    return new McpgError(code, `${this.#options.label}: ${message}`);
  }

  async #send(repository: string, scope: 'pull' | 'pull,push', target: string, init: ExchangeOptions = {}): Promise<Answer> {
    if (this.#options.offline) throw this.#say(`${this.host}/${repository} is not in the cache, and --offline forbids fetching it`);
    const url = new URL(target, this.#base).href;
    const key = `${repository} ${scope}`;
    const hosts = new Set([this.host]);
    const attempt = (authorization?: string) => exchange(url, { maxBytes: MAX_MANIFEST, ...init, credentials: authorization ? { hosts, authorization } : undefined });
    const answer = await attempt(this.#tokens.get(key));
    if (answer.status !== 401) return answer;
    const authorization = await this.#authorize(String(answer.headers['www-authenticate'] ?? ''), repository, scope);
    this.#tokens.set(key, authorization);
    const again = await attempt(authorization);
    if (again.status === 401 || again.status === 403) throw this.#denied(repository, scope, again.status);
    return again;
  }

  #denied(repository: string, scope: string, status: number): McpgError {
    const credential = registryCredentials(this.host, this.#options.env);
    const hint = credential
      ? `with the credentials from ${credential.from}`
      : `anonymously (no credentials for ${this.host} in the Docker config${this.host === 'ghcr.io' ? ' or GITHUB_TOKEN' : ''}; run \`docker login ${this.host}\`)`;
    return this.#say(`${this.host} refused ${scope === 'pull' ? 'to let mcpg read' : 'to let mcpg push to'} ${repository} (HTTP ${status}) ${hint}`);
  }

  /** Answers a 401's challenge: Basic with the credentials, or a token from the Bearer realm. */
  async #authorize(header: string, repository: string, scope: string): Promise<string> {
    const challenge = parseChallenge(header);
    const credential = registryCredentials(this.host, this.#options.env);
    const basic = credential && `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
    if (challenge?.scheme === 'basic') {
      if (!basic) throw this.#denied(repository, scope, 401);
      return basic;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) throw this.#say(`${this.host} asks for an authentication mcpg does not speak: ${JSON.stringify(header.slice(0, 200))}`);
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw this.#say(`${this.host} names a token service that is not a URL`);
    }
    if (!httpsOrLoopback(realm)) throw this.#say(`${this.host} names the token service ${realm.href}; only https:// is used`);
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', `repository:${repository}:${scope}`);
    const answer = await exchange(realm.href, {
      maxBytes: MAX_TOKEN_ANSWER,
      label: this.#options.label,
      credentials: basic ? { hosts: new Set([realm.host]), authorization: basic } : undefined,
    });
    if (answer.status === 401 || answer.status === 403) throw this.#denied(repository, scope, answer.status);
    if (answer.status !== 200) throw this.#say(`the token service of ${this.host} answered HTTP ${answer.status}`);
    const body = parseJson(answer.body, z.object({ token: z.string().max(16384).optional(), access_token: z.string().max(16384).optional() }), `the token service of ${this.host}`);
    const token = body.token || body.access_token;
    if (!token || /[^\x21-\x7e]/.test(token)) throw this.#say(`the token service of ${this.host} gave no usable token`);
    return `Bearer ${token}`;
  }

  #path(repository: string, kind: 'manifests' | 'blobs' | 'referrers', reference: string): string {
    return `${repository}/${kind}/${reference}`;
  }

  /** A manifest by tag or digest; by digest, the bytes must have that digest. */
  async manifest(repository: string, reference: string): Promise<{ bytes: Uint8Array; digest: string; mediaType: string }> {
    const where = `${this.host}/${repository}${DIGEST.test(reference) ? '@' : ':'}${reference}`;
    const answer = await this.#send(repository, 'pull', this.#path(repository, 'manifests', reference), { accept: ACCEPT_MANIFEST, maxBytes: MAX_MANIFEST, label: this.#options.label });
    if (answer.status === 404) throw new NotFound('SUPPLY_FETCH', `${this.#options.label}: ${where} not found in the registry`);
    if (answer.status !== 200) throw this.#say(`${where}: HTTP ${answer.status}`);
    const digest = digestOf(answer.body);
    if (DIGEST.test(reference) && digest !== reference) throw this.#say(`${where}: the registry answered a manifest with digest ${digest}`, 'SUPPLY_HASH');
    const mediaType = String(answer.headers['content-type'] ?? MEDIA.manifest).split(';')[0]!.trim();
    return { bytes: answer.body, digest, mediaType };
  }

  /** A blob, read no further than its descriptor's size and checked against its digest. */
  async blob(repository: string, d: Descriptor, what: string): Promise<Uint8Array> {
    const answer = await this.#send(repository, 'pull', this.#path(repository, 'blobs', d.digest), { maxBytes: d.size, label: this.#options.label });
    if (answer.status === 404) throw new NotFound('SUPPLY_FETCH', `${this.#options.label}: ${what} ${d.digest} not found in ${this.host}/${repository}`);
    if (answer.status !== 200) throw this.#say(`${what} ${d.digest} in ${this.host}/${repository}: HTTP ${answer.status}`);
    const got = digestOf(answer.body);
    if (got !== d.digest || answer.body.length !== d.size) {
      throw this.#say(`${what} in ${this.host}/${repository} should be ${d.digest} (${d.size} bytes) as its manifest says, but the registry sent ${got} (${answer.body.length} bytes)`, 'SUPPLY_HASH');
    }
    return answer.body;
  }

  /**
   * What refers to a manifest: the referrers API, else (a registry before OCI 1.1) the
   * `sha256-HEX` tag's index. At most MAX_REFERRERS, of the given artifact type when it says.
   */
  async referrers(repository: string, digest: string, artifactType?: (t: string | undefined) => boolean): Promise<Descriptor[]> {
    const api = await this.#send(repository, 'pull', this.#path(repository, 'referrers', digest), { accept: MEDIA.index, maxBytes: MAX_MANIFEST, label: this.#options.label });
    let index: Uint8Array | undefined;
    const apiType = String(api.headers['content-type'] ?? '');
    if (api.status === 200 && apiType.startsWith(MEDIA.index)) index = api.body;
    else {
      try {
        index = (await this.manifest(repository, digest.replace(':', '-'))).bytes;
      } catch (err) {
        if (!(err instanceof NotFound)) throw err;
      }
    }
    if (!index) return [];
    const list = parseJson(index, indexSchema, `the referrers of ${this.host}/${repository}@${digest}`).manifests;
    return list.filter((d) => !artifactType || artifactType(d.artifactType)).slice(0, MAX_REFERRERS);
  }

  /** Sigstore bundles stored as referrers of a manifest (each at most `maxBytes`). */
  async bundles(repository: string, digest: string, maxBytes: number): Promise<Uint8Array[]> {
    const found: Uint8Array[] = [];
    for (const r of await this.referrers(repository, digest, isBundleType)) {
      const { bytes } = await this.manifest(repository, r.digest);
      const m = parseJson(bytes, manifestSchema, `referrer ${r.digest} of ${this.host}/${repository}@${digest}`);
      if (m.subject && m.subject.digest !== digest) continue;
      for (const layer of m.layers.filter((l) => isBundleType(l.mediaType) && l.size <= maxBytes)) found.push(await this.blob(repository, layer, 'Sigstore bundle'));
    }
    return found;
  }

  async #pushBlob(repository: string, bytes: Uint8Array): Promise<void> {
    const digest = digestOf(bytes);
    const head = await this.#send(repository, 'pull,push', this.#path(repository, 'blobs', digest), { method: 'HEAD', label: this.#options.label });
    if (head.status === 200) return;
    const start = await this.#send(repository, 'pull,push', `${repository}/blobs/uploads/`, { method: 'POST', label: this.#options.label });
    const location = start.headers.location;
    if (start.status !== 202 || typeof location !== 'string') throw this.#say(`${this.host}/${repository}: starting an upload answered HTTP ${start.status}`);
    const put = new URL(location, this.#base);
    put.searchParams.set('digest', digest);
    const done = await this.#send(repository, 'pull,push', put.href, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' }, label: this.#options.label });
    if (done.status !== 201) throw this.#say(`${this.host}/${repository}: uploading ${digest} answered HTTP ${done.status}`);
  }

  async #pushManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<Answer> {
    const answer = await this.#send(repository, 'pull,push', this.#path(repository, 'manifests', reference), {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': mediaType },
      label: this.#options.label,
    });
    if (answer.status !== 201) throw this.#say(`${this.host}/${repository}: storing manifest ${reference} answered HTTP ${answer.status}`);
    return answer;
  }

  /** Pushes a guard module (config, layer, manifest under the tag) and answers its manifest digest. */
  async pushGuard(ref: OciRef, wasm: Uint8Array): Promise<{ digest: string; manifest: Uint8Array }> {
    const { config, manifest, digest } = guardManifest(wasm);
    if (ref.digest && ref.digest !== digest) throw this.#say(`the module's manifest would be ${digest}, not ${ref.digest} as the reference says`, 'SUPPLY_HASH');
    await this.#pushBlob(ref.repository, wasm);
    await this.#pushBlob(ref.repository, config);
    await this.#pushManifest(ref.repository, ref.tag ?? digest, manifest, MEDIA.manifest);
    return { digest, manifest };
  }

  /**
   * Stores a bundle as a referrer of `subject`. A registry that indexes referrers itself says so
   * with OCI-Subject; for one that does not, the `sha256-HEX` tag's index gains the referrer.
   */
  async pushReferrer(repository: string, bundle: Uint8Array, subject: Descriptor): Promise<string> {
    const { manifest, descriptor: d } = bundleReferrer(bundle, subject);
    await this.#pushBlob(repository, bundle);
    await this.#pushBlob(repository, EMPTY);
    const answer = await this.#pushManifest(repository, d.digest, manifest, MEDIA.manifest);
    if (answer.headers['oci-subject'] === subject.digest) return d.digest;
    const tag = subject.digest.replace(':', '-');
    let existing: Descriptor[] = [];
    try {
      existing = parseJson((await this.manifest(repository, tag)).bytes, indexSchema, `${this.host}/${repository}:${tag}`).manifests;
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
    }
    const index = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [...existing.filter((e) => e.digest !== d.digest), d] };
    await this.#pushManifest(repository, tag, new TextEncoder().encode(JSON.stringify(index)), MEDIA.index);
    return d.digest;
  }
}
