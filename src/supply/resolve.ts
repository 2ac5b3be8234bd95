import { relative } from 'node:path';
import type { Config, Guard as GuardConfig } from '../config/load.ts';
import { McpgError, errorMessage, fsReason } from '../shared/errors.ts';
import { readUserFile } from '../shared/files.ts';
import { logger } from '../shared/log.ts';
import { Cache, sha256 } from './cache.ts';
import { MAX_GUARD_BYTES, NotFound, fetchBytes } from './fetch.ts';
import { attestationsUrl, parseReleaseUrl } from './github.ts';
import { type Lock, type LockEntry, readLock, serverDigest, writeLock } from './lock.ts';
import type { SignerPolicy, VerifiedSigner } from './sigstore.ts';
import type { GuardPackage } from './tarball.ts';
import { publicGoodTrustedRoot } from './trusted-root.ts';
import { type OciRef, formatRef, parseOciRef } from './oci-ref.ts';
import type { OciRegistry } from './oci.ts';

// Loaded when needed: most runs verify no signature and unpack no package.
const sigstore = () => import('./sigstore.ts');
const oci = () => import('./oci.ts');
const readGuardPackage = async (bytes: Uint8Array, source: string): Promise<GuardPackage> =>
  (await import('./tarball.ts')).readGuardPackage(bytes, source);

/** A guard that comes from outside the binary: a local path, a URL, or a registry name. */
export type SuppliedGuard = Exclude<GuardConfig, { builtin: unknown }>;

export interface GuardReport {
  guard: string;
  source: string;
  sha256: string;
  verified: 'signature' | 'hash';
  signer?: { issuer: string; identity: string; repository?: string; workflow?: string; ref?: string };
}

/** A registry name, resolved to where its bytes are (a URL, or an OCI reference by digest) and who must have signed them. */
export interface RegistryPick {
  url?: string;
  oci?: string;
  sha256: string;
  signer: SignerPolicy;
}
export type RegistryResolver = (source: string, guard: string) => Promise<RegistryPick>;
/** Why the registry yanked these locked bytes, if it did. */
export type YankCheck = (source: string, sha256: string) => Promise<string | undefined>;

export interface SupplyOptions {
  cache?: Cache;
  /** Never write guards.lock. */
  frozen?: boolean;
  /** Never touch the network. */
  offline?: boolean;
  /** From --trusted-root: wins over [gateway] trusted_root, not over a guard's own. */
  trustedRoot?: string;
  lockFile?: string;
  registry?: RegistryResolver;
  yanked?: YankCheck;
}

const log = logger('supply');
/** The largest Sigstore bundle mcpg reads, from a file, a registry or a release. */
export const MAX_BUNDLE = 1024 * 1024;
/** The largest trusted root mcpg reads (the public-good one is about 10 KB). */
const MAX_TRUSTED_ROOT = 4 * 1024 * 1024;

const isPackage = (bytes: Uint8Array) => bytes[0] === 0x1f && bytes[1] === 0x8b;

/**
 * The one path from config to guard bytes: lock -> cache -> fetch -> hash -> signature -> bytes.
 * Nothing comes out that does not match guards.lock and, where the config names a signer, carry
 * a valid signature from it.
 */
export class Supply {
  readonly config: Config;
  readonly lockFile: string;
  readonly cache: Cache;
  readonly #options: SupplyOptions;
  readonly #registries = new Map<string, OciRegistry>();
  /** Trusted roots read, by file ('' for the public-good one): each read and digested once. */
  readonly #roots = new Map<string, { root: unknown; digest: string }>();
  #lock?: Lock;

  constructor(config: Config, options: SupplyOptions = {}) {
    this.config = config;
    this.#options = options;
    this.lockFile = options.lockFile ?? config.lock;
    this.cache = options.cache ?? new Cache();
  }

  get lock(): Lock {
    return (this.#lock ??= readLock(this.lockFile));
  }

  guards(): SuppliedGuard[] {
    return this.config.guards.filter((g): g is SuppliedGuard => !('builtin' in g));
  }

  sourceOf(g: SuppliedGuard): string {
    if ('path' in g) return `path:${relative(this.#lockDir(), g.path).replaceAll('\\', '/')}`;
    if ('url' in g) return `url:${g.url}`;
    if ('oci' in g) return `oci:${formatRef(parseOciRef(g.oci))}`;
    return `registry:${g.source.replace(/^registry:/, '')}`;
  }

  #lockDir(): string {
    return this.lockFile.replace(/[/\\][^/\\]*$/, '') || '.';
  }

  /** Where a registry name points now (without downloading). */
  async resolveRegistry(source: string, guard: string): Promise<RegistryPick> {
    if (!this.#options.registry) throw new McpgError('SUPPLY_LOCK', `guard "${guard}": registry guards need the plugin registry`);
    return this.#options.registry(source, guard);
  }

  /**
   * `mcpg guard lock`: resolves, downloads, verifies and records; `update` moves existing pins.
   * With `write` false the lock is only changed in memory (`saveLock` writes it).
   */
  async lockGuards(names: string[], update: boolean, write = true): Promise<{ locked: string[]; warnings: string[] }> {
    const unknown = names.filter((n) => !this.guards().some((g) => g.name === n));
    if (unknown.length) throw new McpgError('USAGE', `no guard named ${unknown.join(', ')} in ${this.config.file}`);
    const lock = this.lock;
    const warnings: string[] = [];
    const locked: string[] = [];
    for (const g of this.guards()) {
      if (names.length && !names.includes(g.name)) continue;
      const entry = lock.guards[g.name];
      if (entry && entry.source === this.sourceOf(g) && !update) continue;
      lock.guards[g.name] = await this.#resolve(g);
      locked.push(g.name);
      if (!lock.guards[g.name]!.signer) warnings.push(`guard "${g.name}" has no signer: it is locked by its hash only`);
    }
    if (!names.length) {
      for (const name of Object.keys(lock.guards)) if (!this.guards().some((g) => g.name === name)) delete lock.guards[name];
    }
    if (write) this.#write();
    return { locked, warnings };
  }

  saveLock(): void {
    this.#write();
  }

  /** `mcpg guard verify`: every way config, lock and artifacts disagree, one line each. */
  async verify(): Promise<{ guard: string; problem: string }[]> {
    const problems: { guard: string; problem: string }[] = [];
    const lock = this.lock;
    for (const g of this.guards()) {
      const entry = lock.guards[g.name];
      const add = (problem: string) => problems.push({ guard: g.name, problem });
      if (!entry) {
        add('missing from guards.lock (run `mcpg guard lock`)');
        continue;
      }
      if (entry.source !== this.sourceOf(g)) {
        add(`the config says ${this.sourceOf(g)}, guards.lock says ${entry.source} (run \`mcpg guard lock --update ${g.name}\`)`);
        continue;
      }
      try {
        await this.#checked(g, entry);
        if ('oci' in g && !this.#options.offline) {
          const moved = await this.#tagMoved(g);
          if (moved) add(moved);
        }
        const yanked = 'source' in g ? await this.#options.yanked?.(entry.source, entry.sha256) : undefined;
        if (yanked) add(`the locked version is yanked from the registry (${yanked}); run \`mcpg guard lock --update ${g.name}\` to move to a version that is not`);
      } catch (err) {
        // The problem is listed under the guard's name already.
        const message = errorMessage(err);
        const own = `guard "${g.name}": `;
        add(message.startsWith(own) ? message.slice(own.length) : message);
      }
    }
    for (const name of Object.keys(lock.guards)) {
      if (!this.guards().some((g) => g.name === name)) problems.push({ guard: name, problem: 'in guards.lock but not in the config' });
    }
    // Pinned definitions belong to the server as the config starts it (the live server is not
    // asked: CI may not be able to start it).
    for (const [name, pins] of Object.entries(lock.tools ?? {})) {
      const server = this.config.servers.find((s) => s.name === name);
      const add = (problem: string) => problems.push({ guard: `server ${name}`, problem });
      if (!server) add('its definitions are pinned in the lock, but the config has no such server (run `mcpg tools lock`)');
      else if (pins.server !== serverDigest(server)) add(`its definitions were pinned for another command or url (run \`mcpg tools lock --server ${name}\`)`);
    }
    return problems;
  }

  /** How each locked guard is vouched for: a verified signature and its signer, or its hash only. */
  report(): GuardReport[] {
    return this.guards().flatMap((g) => {
      const entry = this.lock.guards[g.name];
      if (!entry) return [];
      const { signer } = entry;
      return [
        {
          guard: g.name,
          source: entry.source,
          sha256: entry.sha256,
          verified: signer ? ('signature' as const) : ('hash' as const),
          ...(signer && { signer: { issuer: signer.issuer, identity: signer.san, repository: signer.repository, workflow: signer.workflow, ref: signer.ref } }),
        },
      ];
    });
  }

  /** `mcpg run`: the module bytes of a guard, through the lock. */
  async guardBytes(g: SuppliedGuard): Promise<{ bytes: Uint8Array; sha256: string }> {
    let entry = this.lock.guards[g.name];
    if (!entry || entry.source !== this.sourceOf(g)) {
      const why = entry ? `the config says ${this.sourceOf(g)} but guards.lock says ${entry.source}` : 'it is not in guards.lock';
      if (this.#options.frozen) {
        throw new McpgError('SUPPLY_LOCK', `guard "${g.name}": ${why}; run \`mcpg guard lock${entry ? ' --update' : ''} ${g.name}\``);
      }
      log.info(`guard "${g.name}": ${why}; locking it now`);
      entry = await this.#resolve(g);
      this.lock.guards[g.name] = entry;
      this.#write();
    } else if ('path' in g && !this.#options.frozen) {
      // The dev loop: a local guard rebuilt since it was locked is locked again (--frozen refuses).
      const now = sha256(readPath(g));
      if (now !== entry.sha256) {
        log.info(`guard "${g.name}": ${g.path} changed since it was locked (sha256 ${entry.sha256.slice(0, 12)}… → ${now.slice(0, 12)}…); locking it again (--frozen would refuse)`);
        entry = await this.#resolve(g);
        this.lock.guards[g.name] = entry;
        this.#write();
      }
    }
    return { bytes: await this.#checked(g, entry), sha256: entry.sha256 };
  }

  #write(): void {
    if (this.#options.frozen) throw new McpgError('SUPPLY_LOCK', `${this.lockFile} would change, but --frozen forbids writing it`);
    writeLock(this.lockFile, this.lock);
  }

  #signerPolicy(g: SuppliedGuard): SignerPolicy | undefined {
    return g.signer as SignerPolicy | undefined;
  }

  /** The guard's trusted root, and its digest (part of a kept verdict's key). */
  #trustedRoot(g: SuppliedGuard): { root: unknown; digest: string } {
    const file = g.trusted_root ?? this.#options.trustedRoot ?? this.config.trustedRoot ?? '';
    let known = this.#roots.get(file);
    if (!known) {
      let root: unknown;
      try {
        root = file ? JSON.parse(readUserFile(file, MAX_TRUSTED_ROOT).toString('utf8')) : publicGoodTrustedRoot();
      } catch (err) {
        throw new McpgError('SUPPLY_SIGNATURE', `guard "${g.name}": cannot read trusted root ${file}: ${fsReason(err)}`);
      }
      known = { root, digest: sha256(Buffer.from(JSON.stringify(root))) };
      this.#roots.set(file, known);
    }
    return known;
  }

  async #fetch(url: string, label: string): Promise<Uint8Array> {
    if (this.#options.offline) throw new McpgError('SUPPLY_FETCH', `${label}: ${url} is not in the cache, and --offline forbids fetching it`);
    return fetchBytes(url, { label });
  }

  /** Fresh resolution: the bytes, their digests and (when asked for) the verified signer. */
  async #resolve(g: SuppliedGuard): Promise<LockEntry> {
    let url: string | undefined;
    let ociRef: string | undefined;
    let policy = this.#signerPolicy(g);
    let pin = g.sha256;
    if ('source' in g) {
      const pick = await this.resolveRegistry(g.source, g.name);
      url = pick.url;
      ociRef = pick.oci;
      pin ??= pick.sha256;
      policy ??= pick.signer;
    } else if ('url' in g) url = g.url;
    else if ('oci' in g) ociRef = g.oci;
    if (ociRef) return this.#resolveOci(g, parseOciRef(ociRef), policy, pin);
    const bytes =
      'path' in g
        ? readPath(g)
        : await this.cache.exclusive(url!, async () => {
            const b = await this.#fetch(url!, `guard "${g.name}"`);
            this.cache.put(b);
            return b;
          });
    const digest = sha256(bytes);
    if (pin && digest !== pin) {
      throw new McpgError('SUPPLY_HASH', `guard "${g.name}": ${url ?? g.name} has sha256 ${digest}, but the config pins ${pin}`);
    }
    const entry: LockEntry = { source: this.sourceOf(g), url, sha256: digest, size: bytes.length };
    if (isPackage(bytes)) entry.wasm_sha256 = sha256((await readGuardPackage(bytes, url ?? g.name)).wasm);
    if (policy) entry.signer = await this.#signature(g, policy, bytes, { url });
    log.info(`locked guard "${g.name}": sha256 ${digest}${entry.signer ? `, signed by ${entry.signer.san}` : ''}`);
    return entry;
  }

  /** An OCI guard: its tag resolved to a manifest digest, the module layer, the bundle that refers to the manifest. */
  async #resolveOci(g: SuppliedGuard, ref: OciRef, policy: SignerPolicy | undefined, pin: string | undefined): Promise<LockEntry> {
    const registry = await this.#registry(ref, g);
    const manifest = await registry.manifest(ref.repository, ref.digest ?? ref.tag!);
    const pinned: OciRef = { registry: ref.registry, repository: ref.repository, digest: manifest.digest };
    const bytes = await this.#ociModule(g, pinned, manifest.bytes, undefined);
    const digest = sha256(bytes);
    if (pin && digest !== pin) throw new McpgError('SUPPLY_HASH', `guard "${g.name}": ${formatRef(ref)} has a module with sha256 ${digest}, but the config pins ${pin}`);
    const entry: LockEntry = { source: this.sourceOf(g), oci: formatRef(pinned), sha256: digest, size: bytes.length };
    if (policy) entry.signer = await this.#signature(g, policy, manifest.bytes, { oci: pinned });
    log.info(`locked guard "${g.name}": ${formatRef(pinned)}, module sha256 ${digest}${entry.signer ? `, signed by ${entry.signer.san}` : ''}`);
    return entry;
  }

  async #registry(ref: OciRef, g: SuppliedGuard): Promise<OciRegistry> {
    const key = `${ref.registry} ${g.name}`;
    let r = this.#registries.get(key);
    if (!r) this.#registries.set(key, (r = new (await oci()).OciRegistry(ref.registry, { label: `guard "${g.name}"`, offline: this.#options.offline })));
    return r;
  }

  /** The module a manifest names (from the cache, else the registry), kept in the cache with the manifest. */
  async #ociModule(g: SuppliedGuard, pinned: OciRef, manifest: Uint8Array, locked: string | undefined): Promise<Uint8Array> {
    const layer = (await oci()).wasmLayer(manifest, `guard "${g.name}": ${formatRef(pinned)}`);
    const digest = layer.digest.slice('sha256:'.length);
    if (locked && digest !== locked) {
      throw new McpgError('SUPPLY_HASH', `guard "${g.name}": ${formatRef(pinned)} names the module sha256 ${digest}, but guards.lock says ${locked}`);
    }
    this.cache.put(manifest);
    const cached = this.cache.get(digest);
    if (cached) return cached;
    const bytes = await (await this.#registry(pinned, g)).blob(pinned.repository, layer, 'the module layer');
    this.cache.put(bytes);
    return bytes;
  }

  /** For `guard outdated`: where an OCI guard's tag points now, and the manifest guards.lock pins. */
  async ociTag(g: SuppliedGuard & { oci: string }): Promise<{ ref: string; now: string; locked?: string } | undefined> {
    const ref = parseOciRef(g.oci);
    if (!ref.tag || ref.digest) return undefined;
    const entry = this.lock.guards[g.name];
    const now = (await (await this.#registry(ref, g)).manifest(ref.repository, ref.tag)).digest;
    return { ref: formatRef(ref), now, locked: entry?.oci ? parseOciRef(entry.oci).digest : undefined };
  }

  async #tagMoved(g: SuppliedGuard & { oci: string }): Promise<string | undefined> {
    const tag = await this.ociTag(g);
    if (!tag || tag.now === tag.locked) return undefined;
    return `the tag ${tag.ref} now points to ${tag.now}, but guards.lock pins ${tag.locked}; if this change is expected, run \`mcpg guard lock --update ${g.name}\``;
  }

  /** Bytes that match the lock entry (from cache, disk or network), signature re-checked. */
  async #checked(g: SuppliedGuard, entry: LockEntry): Promise<Uint8Array> {
    // Hashed once: the cache checks an entry against its digest as it reads it (a tampered one is
    // discarded and fetched again); a file or a download is checked here.
    const matching = (bytes: Uint8Array): Uint8Array => {
      const digest = sha256(bytes);
      if (digest === entry.sha256) return bytes;
      throw new McpgError(
        'SUPPLY_HASH',
        `guard "${g.name}": ${entry.url ?? g.name} has sha256 ${digest}, but guards.lock says ${entry.sha256}; ` +
          'if this change is expected, run `mcpg guard lock --update ' + g.name + '`',
      );
    };
    const pinned = entry.oci ? parseOciRef(entry.oci) : undefined;
    // An OCI guard's signature is over its manifest, which names the module by digest.
    const manifest = pinned && (this.cache.get(pinned.digest!.slice('sha256:'.length)) ?? (await (await this.#registry(pinned, g)).manifest(pinned.repository, pinned.digest!)).bytes);
    const bytes =
      'path' in g
        ? matching(readPath(g))
        : manifest
          ? await this.#ociModule(g, pinned!, manifest, entry.sha256)
          : (this.cache.get(entry.sha256) ??
          (await this.cache.exclusive(entry.sha256, async () => {
            const again = this.cache.get(entry.sha256);
            if (again) return again;
            const b = matching(await this.#fetch(entry.url!, `guard "${g.name}"`));
            this.cache.put(b);
            return b;
          })));
    if (g.sha256 && g.sha256 !== entry.sha256) {
      throw new McpgError('SUPPLY_HASH', `guard "${g.name}": the config pins sha256 ${g.sha256}, guards.lock says ${entry.sha256}`);
    }
    const policy = this.#signerPolicy(g) ?? (entry.signer && 'source' in g ? await this.#registryPolicy(g) : undefined);
    if (policy) {
      if (!entry.signer) throw new McpgError('SUPPLY_SIGNATURE', `guard "${g.name}": the config names a signer, but guards.lock records none`);
      const signer = await this.#signature(g, policy, manifest ?? bytes, { url: entry.url, oci: pinned }, entry.signer.bundle_sha256);
      for (const k of ['issuer', 'san', 'repository', 'ref', 'workflow'] as const) {
        if (signer[k] !== entry.signer[k]) {
          throw new McpgError('SUPPLY_SIGNATURE', `guard "${g.name}": signer ${k} is ${signer[k]}, guards.lock says ${entry.signer[k]}`);
        }
      }
    }
    if (!isPackage(bytes)) return bytes;
    const wasm = (await readGuardPackage(bytes, entry.url ?? g.name)).wasm;
    if (sha256(wasm) !== entry.wasm_sha256) {
      throw new McpgError('SUPPLY_HASH', `guard "${g.name}": guard.wasm in the package differs from guards.lock`);
    }
    return wasm;
  }

  async #registryPolicy(g: SuppliedGuard & { source: string }): Promise<SignerPolicy> {
    return (await this.resolveRegistry(g.source, g.name)).signer;
  }

  /** Finds a bundle for the artifact and verifies it against the policy. */
  async #signature(g: SuppliedGuard, policy: SignerPolicy, bytes: Uint8Array, where: { url?: string; oci?: OciRef }, known?: string) {
    const { url, oci: ref } = where;
    const { root: trustedRoot, digest: rootDigest } = this.#trustedRoot(g);
    const what = ref ? `guard "${g.name}" (${formatRef(ref)})` : `guard "${g.name}"`;
    const cached = known ? this.cache.get(known) : undefined;
    const candidates: (() => Promise<Uint8Array[]>)[] = [];
    if (cached) candidates.push(async () => [cached]);
    if (g.bundle) {
      const b = g.bundle;
      candidates.push(async () => [/^https?:/.test(b) ? await this.#fetch(b, `${what} bundle`) : readUserFile(b, MAX_BUNDLE)]);
    }
    if (url) {
      for (const suffix of ['.sigstore.json', '.sigstore']) {
        candidates.push(async () => [await this.#fetch(url + suffix, `${what} bundle`)]);
      }
      const release = parseReleaseUrl(url);
      if (release) {
        candidates.push(() => this.#attestations(release.owner, release.repo, sha256(bytes), what));
      }
    }
    if (ref) {
      candidates.push(async () => {
        const found = await (await this.#registry(ref, g)).bundles(ref.repository, ref.digest!, MAX_BUNDLE);
        if (!found.length) throw new NotFound('SUPPLY_FETCH', `no Sigstore bundle refers to ${formatRef(ref)} in the registry`);
        return found;
      });
      const [owner, repo] = policy.repository?.split('/') ?? [];
      if (ref.registry === 'ghcr.io' && owner && repo) candidates.push(() => this.#attestations(owner, repo, ref.digest!.slice('sha256:'.length), what));
    }
    // A bundle this machine verified before, for the same artifact, trust root and signer policy,
    // is not verified again: its verdict is kept as a derived entry (HMAC-sealed with a key outside
    // the cache, so a restored or edited cache is verified afresh), its key everything the verdict
    // depends on. Only a bundle that verified is kept.
    const verdict = async (bundle: Uint8Array): Promise<VerifiedSigner> => {
      const key = ['sigstore-verdict/1', sha256(bundle), sha256(bytes), rootDigest, JSON.stringify(policy)].join('\n');
      const kept = this.cache.kept(key);
      // sigstore's modules are loaded only when a verdict is to be reached.
      const signer = kept ? (JSON.parse(Buffer.from(kept).toString('utf8')) as VerifiedSigner) : (await sigstore()).verifyBundle({ what, bundle, artifact: bytes, trustedRoot, policy });
      if (!kept) this.cache.keep(key, Buffer.from(JSON.stringify(signer)));
      if (bundle !== cached) this.cache.put(bundle);
      return signer;
    };
    const looked: string[] = [];
    let lastError: unknown;
    for (const candidate of candidates) {
      let bundles: Uint8Array[];
      try {
        bundles = await candidate();
      } catch (err) {
        if (err instanceof NotFound || (err instanceof McpgError && err.code === 'SUPPLY_FETCH' && this.#options.offline)) {
          looked.push(errorMessage(err));
          continue;
        }
        throw err;
      }
      for (const bundle of bundles) {
        if (bundle.length > MAX_BUNDLE) continue;
        try {
          return await verdict(bundle);
        } catch (err) {
          lastError = err;
        }
      }
    }
    if (lastError) throw lastError;
    throw new McpgError('SUPPLY_SIGNATURE', `${what}: no Sigstore bundle found (${looked.join('; ') || 'no place to look: set `bundle`'})`);
  }
  /** GitHub's attestations of a digest in a repository, each a bundle. */
  async #attestations(owner: string, repo: string, digest: string, what: string): Promise<Uint8Array[]> {
    const answer = JSON.parse(Buffer.from(await this.#fetch(attestationsUrl(owner, repo, digest), `${what} attestations`)).toString()) as {
      attestations?: { bundle: unknown }[];
    };
    return (answer.attestations ?? []).map((a) => new TextEncoder().encode(JSON.stringify(a.bundle)));
  }
}

function readPath(g: SuppliedGuard & { path: string }): Uint8Array {
  try {
    return readUserFile(g.path, MAX_GUARD_BYTES);
  } catch (err) {
    throw new McpgError('GUARD_LOAD', `guard "${g.name}": cannot read ${g.path}: ${fsReason(err)}`);
  }
}
