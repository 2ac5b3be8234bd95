// The verifier in process, on bundles the hermetic test Sigstore makes: the conformance suite's
// two classes mcpg used to miss (a message signature checked against a digest; a trust root
// whose log key has no validity start).
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { McpgError } from '../../src/shared/errors.ts';
import { verifyBundle } from '../../src/supply/sigstore.ts';
import { releaseWorld } from '../helpers/release-world.ts';
import { GITHUB_ISSUER } from '../helpers/sigstore.ts';

const world = releaseWorld();
const ARTIFACT = Buffer.from('a guard, signed with a message signature');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const POLICY = { issuer: GITHUB_ISSUER, repository: 'octo/guards' };

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(McpgError);
    return (err as McpgError).message;
  }
  throw new Error('it verified');
}

describe('message signatures checked against a digest (sha256:<hex>)', () => {
  it('verifies over the prehashed digest, and refuses a digest the bundle did not sign', async () => {
    const bundle = Buffer.from(await world.sigstore.sign(ARTIFACT, { repository: 'octo/guards' }, 'message'));
    const input = { what: 'a.txt', bundle, trustedRoot: world.sigstore.trustedRoot, policy: POLICY };
    expect(verifyBundle({ ...input, artifact: ARTIFACT }).repository).toBe('octo/guards');
    expect(verifyBundle({ ...input, artifact: { sha256: sha(ARTIFACT) } }).repository).toBe('octo/guards');
    expect(refusal(() => verifyBundle({ ...input, artifact: { sha256: sha(Buffer.from('tampered')) } }))).toMatch(
      /^a\.txt: the bundle signs another artifact \(its sha256 is [0-9a-f]{64}\)$/,
    );
  });

  it('checks the signature itself over the digest: a signature over other bytes is refused', async () => {
    const bundle = JSON.parse(await world.sigstore.sign(ARTIFACT, { repository: 'octo/guards' }, 'message')) as {
      messageSignature: { messageDigest: { digest: string }; signature: string };
    };
    const other = JSON.parse(await world.sigstore.sign(Buffer.from('other bytes'), { repository: 'octo/guards' }, 'message')) as typeof bundle;
    // The digest says ARTIFACT; the signature is over other bytes.
    bundle.messageSignature.signature = other.messageSignature.signature;
    const input = { what: 'a.txt', bundle: Buffer.from(JSON.stringify(bundle)), trustedRoot: world.sigstore.trustedRoot, policy: POLICY };
    expect(refusal(() => verifyBundle({ ...input, artifact: { sha256: sha(ARTIFACT) } }))).toMatch(/signature does not verify/);
  });
});

describe('the prehash check alone (a key-signed bundle: no log entry to cross-check the signature)', () => {
  const EMPTY_ROOT = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
  const keyBundle = (signature: Buffer, digest: Buffer) =>
    Buffer.from(
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: { publicKey: { hint: 'k' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
        messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: signature.toString('base64') },
      }),
    );
  for (const [kind, keys] of [
    ['ECDSA P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['ECDSA P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' })],
    ['RSA PKCS#1 v1.5', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ] as const) {
    it(`${kind}: the right signature verifies over the digest, another one does not`, () => {
      const { privateKey, publicKey } = keys();
      const key = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const digest = createHash('sha256').update(ARTIFACT).digest();
      const good = keyBundle(sign('sha256', ARTIFACT, privateKey), digest);
      const bad = keyBundle(sign('sha256', Buffer.from('other bytes'), privateKey), digest);
      const input = { what: 'a.txt', trustedRoot: EMPTY_ROOT, policy: { key }, artifact: { sha256: digest.toString('hex') } };
      expect(verifyBundle({ ...input, bundle: good }).san).toBe('public key');
      expect(refusal(() => verifyBundle({ ...input, bundle: bad }))).toMatch(/signature does not verify/);
    });
  }
});

describe('trusted roots', () => {
  it('refuses a transparency log key with no validity start, rather than treating it as unbounded', async () => {
    const bundle = Buffer.from(await world.sigstore.sign(ARTIFACT, { repository: 'octo/guards' }));
    const root = structuredClone(world.sigstore.trustedRoot) as { tlogs: { publicKey: { validFor?: { start?: string } } }[] };
    delete root.tlogs[0]!.publicKey.validFor!.start;
    expect(refusal(() => verifyBundle({ what: 'g', bundle, artifact: ARTIFACT, trustedRoot: root, policy: POLICY }))).toMatch(
      /^g: the trusted root is not valid: log .* has a key with no validity start$/,
    );
  });
});
