import { type KeyObject, createHash, createPublicKey, constants, publicDecrypt } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { type Signer, Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { sha256 } from './cache.ts';
import './der.ts';
import './x509-verified.ts';

/**
 * Signature checks. No I/O: the bundle, the artifact and the trusted root come in as values.
 * The cryptography is @sigstore/verify's; the identity policy is checked here, after it, on the
 * certificate's own fields (never by handing user text to a regex unanchored).
 */

export interface SignerPolicy {
  issuer: string;
  identity?: string;
  identity_regex?: string;
  repository?: string;
  workflow?: string;
  ref?: string;
  /** For attestations (DSSE): the predicate type required; SLSA provenance v1 by default. */
  predicate_type?: string;
}

/** What a verified signature says about its signer: recorded in guards.lock. */
export interface VerifiedSigner {
  issuer: string;
  san: string;
  repository?: string;
  ref?: string;
  workflow?: string;
  bundle_sha256: string;
}

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';

const OID = {
  issuerV1: '1.3.6.1.4.1.57264.1.1',
  repoV1: '1.3.6.1.4.1.57264.1.5',
  refV1: '1.3.6.1.4.1.57264.1.6',
  buildSigner: '1.3.6.1.4.1.57264.1.9',
  sourceRepo: '1.3.6.1.4.1.57264.1.12',
  sourceRef: '1.3.6.1.4.1.57264.1.14',
};

const fail = (what: string, why: string) => new McpgError('SUPPLY_SIGNATURE', `${what}: ${why}`);

/** Fulcio extension values: DER UTF8String for the current OIDs, raw text for the legacy ones. */
function extension(signer: Signer, oid: string): string | undefined {
  const hit = signer.identity?.oids?.find((o) => o.oid?.id.join('.') === oid);
  if (!hit) return undefined;
  const v = Buffer.from(hit.value);
  if (v[0] === 0x0c && v.length >= 2) {
    const long = v[1]! & 0x80 ? v[1]! & 0x7f : 0;
    const len = long ? v.subarray(2, 2 + long).reduce((n, b) => n * 256 + b, 0) : v[1]!;
    return v.subarray(2 + long, 2 + long + len).toString('utf8');
  }
  return v.toString('utf8');
}

/** `OWNER/REPO` from `https://host/OWNER/REPO` (or a bare `OWNER/REPO`). */
function repoPath(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  return uri.replace(/^[a-z]+:\/\/[^/]+\//i, '').replace(/\/$/, '');
}

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

export interface VerifyInput {
  /** Names the guard (or file) in every error. */
  what: string;
  bundle: Uint8Array;
  /** The artifact's bytes, or only its sha256 (enough for an attestation, whose statement names it). */
  artifact: Uint8Array | { sha256: string };
  trustedRoot: unknown;
  policy: SignerPolicy | { key: string };
  /** Skip the predicate type check (the conformance CLI checks signatures, not predicates). */
  anyPredicate?: boolean;
}

/**
 * A trusted root read and checked once for all the bundles verified against it (a run's guards
 * share one parsed root), with @sigstore/verify's trust material for it made when first needed:
 * making both again for each bundle (its certificates parsed, its keys imported) was a tenth of
 * `guard verify`'s CPU for 10 guards.
 */
interface Trusted {
  root: TrustedRoot;
  material?: ReturnType<typeof toTrustMaterial>;
}
const trustedRoots = new WeakMap<object, Trusted>();

function trusted(what: string, json: unknown): Trusted {
  const key = typeof json === 'object' && json !== null ? json : undefined;
  const known = key && trustedRoots.get(key);
  if (known) return known;
  let root;
  try {
    root = TrustedRoot.fromJSON(json);
  } catch (err) {
    throw fail(what, `the trusted root is not valid (${errorMessage(err)})`);
  }
  // A key with no validity start is a malformed trust root, not an unbounded key (conformance:
  // trust-root-tlog-missing-validity-start).
  for (const log of [...root.tlogs, ...root.ctlogs]) {
    if (!log.publicKey?.validFor?.start) throw fail(what, `the trusted root is not valid: log ${log.baseUrl || '(unnamed)'} has a key with no validity start`);
  }
  const made: Trusted = { root };
  if (key) trustedRoots.set(key, made);
  return made;
}

export function verifyBundle(input: VerifyInput): VerifiedSigner {
  const { what } = input;
  let bundle;
  try {
    bundle = bundleFromJSON(JSON.parse(Buffer.from(input.bundle).toString('utf8')));
  } catch (err) {
    throw fail(what, `not a valid Sigstore bundle (${errorMessage(err)})`);
  }
  const keyPolicy = 'key' in input.policy ? input.policy : undefined;
  const known = trusted(what, input.trustedRoot);
  const { root } = known;
  const trust = keyPolicy ? toTrustMaterial(root, () => ({ publicKey: createPublicKey(keyPolicy.key), validFor: () => true })) : (known.material ??= toTrustMaterial(root));
  // GitHub's own instance (private repositories) has no transparency log and no CT log, and
  // signs with a timestamp authority: accept that only for a trusted root that has neither.
  const noLogs = root.tlogs.length === 0 && root.ctlogs.length === 0;
  const verifier = new Verifier(trust, {
    tlogThreshold: noLogs || keyPolicy ? 0 : 1,
    ctlogThreshold: noLogs || keyPolicy ? 0 : 1,
    timestampThreshold: keyPolicy && root.tlogs.length === 0 && root.timestampAuthorities.length === 0 ? 0 : 1,
  });

  const bytes = input.artifact instanceof Uint8Array ? Buffer.from(input.artifact) : undefined;
  const entity = toSignedEntity(bundle, bytes);
  if (!bytes && bundle.content.$case === 'messageSignature') {
    entity.signature = prehashed(what, bundle.content.messageSignature, entity.signature, (input.artifact as { sha256: string }).sha256);
  }
  let signer: Signer;
  try {
    signer = verifier.verify(entity);
  } catch (err) {
    throw fail(what, `signature does not verify: ${errorMessage(err)}`);
  }
  // A DSSE signature covers its statement, not the artifact: the statement must name the artifact.
  if (bundle.content.$case === 'dsseEnvelope') {
    checkStatement(what, bundle.content.dsseEnvelope, input.artifact, keyPolicy || input.anyPredicate ? undefined : (input.policy as SignerPolicy));
  }
  const bundleSha = sha256(input.bundle);
  if (keyPolicy) return { issuer: '', san: 'public key', bundle_sha256: bundleSha };
  return checkIdentity(what, signer, input.policy as SignerPolicy, bundleSha);
}

/**
 * A message signature checked against the artifact's digest alone (`sha256:<hex>` in place of
 * the file): the digest must be the one the bundle signed, and the signature is verified over
 * it as a prehash. @sigstore/verify takes only the bytes; the rest of its checks (certificate,
 * logs, timestamps) run as they are.
 */
function prehashed(
  what: string,
  message: { messageDigest?: { algorithm: number; digest: Buffer }; signature: Buffer },
  content: ReturnType<typeof toSignedEntity>['signature'],
  sha256Hex: string,
): ReturnType<typeof toSignedEntity>['signature'] {
  const digest = Buffer.from(sha256Hex, 'hex');
  const signed = message.messageDigest;
  // 0: unspecified (sha256 by default), 1: SHA2_256.
  if (!signed || signed.algorithm > 1) throw fail(what, 'the bundle signs a digest that is not sha256; give the file itself');
  if (!Buffer.from(signed.digest).equals(digest)) throw fail(what, `the bundle signs another artifact (its sha256 is ${Buffer.from(signed.digest).toString('hex')})`);
  return Object.assign(Object.create(Object.getPrototypeOf(content) as object) as object, content, {
    verifySignature: (key: KeyObject) => verifyPrehashed(key, digest, Buffer.from(message.signature)),
  }) as typeof content;
}

/** DigestInfo for SHA-256 (RFC 8017), before the digest: what a PKCS#1 v1.5 signature wraps. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

function verifyPrehashed(key: KeyObject, digest: Buffer, signature: Buffer): boolean {
  try {
    if (key.asymmetricKeyType === 'ec') {
      const curve = { prime256v1: p256, secp384r1: p384, secp521r1: p521 }[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (!curve) return false;
      const jwk = key.export({ format: 'jwk' });
      const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
      return curve.verify(signature, digest, point, { prehash: false, lowS: false, format: 'der' });
    }
    if (key.asymmetricKeyType === 'rsa') {
      return publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature).equals(Buffer.concat([SHA256_DIGEST_INFO, digest]));
    }
  } catch {
    return false;
  }
  // Ed25519 signs the message itself: there is no prehash form to check.
  return false;
}

function checkStatement(what: string, envelope: { payloadType: string; payload: Buffer }, artifact: VerifyInput['artifact'], policy?: SignerPolicy) {
  if (envelope.payloadType !== 'application/vnd.in-toto+json') throw fail(what, `DSSE payload type ${envelope.payloadType} is not in-toto`);
  let statement: { subject?: { digest?: Record<string, string> }[]; predicateType?: string };
  try {
    statement = JSON.parse(Buffer.from(envelope.payload).toString('utf8'));
  } catch {
    throw fail(what, 'the in-toto statement is not JSON');
  }
  const digests =
    artifact instanceof Uint8Array
      ? { sha256: sha256(artifact), sha512: createHash('sha512').update(artifact).digest('hex') }
      : { sha256: artifact.sha256.toLowerCase(), sha512: undefined };
  const matches = (statement.subject ?? []).some((s) =>
    Object.entries(s.digest ?? {}).some(([alg, d]) => (alg === 'sha256' || alg === 'sha512') && digests[alg] === d.toLowerCase()),
  );
  if (!matches) throw fail(what, `the attestation is for another artifact (no subject has sha256 ${digests.sha256})`);
  const wanted = policy?.predicate_type ?? SLSA_PROVENANCE_V1;
  if (policy && statement.predicateType !== wanted) {
    throw fail(what, `the attestation's predicate type is ${statement.predicateType}, expected ${wanted}`);
  }
}

function checkIdentity(what: string, signer: Signer, policy: SignerPolicy, bundleSha: string): VerifiedSigner {
  const issuer = signer.identity?.extensions?.issuer ?? extension(signer, OID.issuerV1) ?? '';
  const san = signer.identity?.subjectAlternativeName ?? '';
  const repository = repoPath(extension(signer, OID.sourceRepo)) ?? extension(signer, OID.repoV1);
  const ref = extension(signer, OID.sourceRef) ?? extension(signer, OID.refV1);
  const buildSigner = extension(signer, OID.buildSigner) ?? san;
  const workflow = repoPath(buildSigner)?.split('@')[0];
  if (issuer !== policy.issuer) throw fail(what, `signed through issuer ${issuer || '(none)'}, expected ${policy.issuer}`);
  if (policy.identity !== undefined && san !== policy.identity) {
    throw fail(what, `signed by ${san}, expected exactly ${policy.identity}`);
  }
  if (policy.identity_regex !== undefined) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${policy.identity_regex})$`);
    } catch (err) {
      throw fail(what, `identity_regex is not a valid regular expression: ${errorMessage(err)}`);
    }
    if (!re.test(san)) throw fail(what, `signed by ${san}, which does not match identity_regex ${policy.identity_regex}`);
  }
  if (policy.repository !== undefined && repository?.toLowerCase() !== policy.repository.toLowerCase()) {
    throw fail(what, `built in repository ${repository ?? '(unknown)'}, expected ${policy.repository}`);
  }
  if (policy.workflow !== undefined) {
    const want = policy.workflow.includes('@') ? repoPath(buildSigner) : workflow;
    if (want?.toLowerCase() !== repoPath(policy.workflow)!.toLowerCase()) {
      throw fail(what, `built by workflow ${workflow ?? '(unknown)'}, expected ${policy.workflow}`);
    }
  }
  if (policy.ref !== undefined && !(ref && glob(policy.ref).test(ref))) {
    throw fail(what, `built from ref ${ref ?? '(unknown)'}, expected ${policy.ref}`);
  }
  return { issuer, san, repository, ref, workflow, bundle_sha256: bundleSha };
}
