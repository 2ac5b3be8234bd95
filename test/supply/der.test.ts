import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ASN1Obj, X509Certificate } from '@sigstore/core';
import { describe, expect, it } from 'vitest';
import { libraryDer } from '../../src/supply/der.ts';
import { libraryVerify } from '../../src/supply/x509-verified.ts';
import { publicGoodTrustedRoot } from '../../src/supply/trusted-root.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');

/** Every certificate of the public-good root, and the leaf (with its SCTs) of a real bundle. */
function realCertificates(): Buffer<ArrayBuffer>[] {
  const root = publicGoodTrustedRoot() as Record<string, { certChain?: { certificates: { rawBytes: string }[] } }[]>;
  const chains = [...root.certificateAuthorities!, ...root.timestampAuthorities!].flatMap((a) => a.certChain?.certificates ?? []);
  const bundle = JSON.parse(readFileSync(join(FIXTURES, 'public-good/oci-attestation.sigstore.json'), 'utf8')) as { verificationMaterial: { certificate: { rawBytes: string } } };
  return [...chains, bundle.verificationMaterial.certificate].map((c) => Buffer.from(c.rawBytes, 'base64'));
}

function* nodes(node: ASN1Obj): Generator<ASN1Obj> {
  yield node;
  for (const sub of node.subs) yield* nodes(sub);
}

describe("mcpg's DER encoder for @sigstore/core", () => {
  it('is the one @sigstore/verify uses (one copy of @sigstore/core in the tree)', () => {
    const fromVerify = createRequire(createRequire(import.meta.url).resolve('@sigstore/verify')).resolve('@sigstore/core');
    expect(fromVerify).toBe(createRequire(import.meta.url).resolve('@sigstore/core'));
  });

  it('writes the bytes the library writes, for every node of real certificates', () => {
    const certificates = realCertificates();
    expect(certificates.length).toBeGreaterThan(5);
    for (const bytes of certificates) {
      const cert = X509Certificate.parse(bytes);
      expect(cert.root.toDER().equals(bytes)).toBe(true);
      for (const node of nodes(cert.root)) expect(node.toDER().equals(libraryDer.call(node))).toBe(true);
    }
  });

  it('writes an edited tree (a certificate without its SCTs, as SCT checks make it) as the library does', () => {
    const leaf = X509Certificate.parse(realCertificates().at(-1)!);
    const extensions = leaf.tbsCertificate.subs.find((s) => s.tag.toDER() === 0xa3)!.subs[0]!;
    const before = extensions.subs.length;
    extensions.subs.splice(extensions.subs.findIndex((e) => e.subs[0]!.toOID() === '1.3.6.1.4.1.11129.2.4.2'), 1);
    expect(extensions.subs.length).toBe(before - 1);
    expect(leaf.tbsCertificate.toDER().equals(libraryDer.call(leaf.tbsCertificate))).toBe(true);
  });

  it('writes long lengths (1 to 3 length bytes) as the library does', () => {
    for (const size of [0, 127, 128, 255, 256, 65535, 65536, 70000]) {
      const length = size < 128 ? [size] : size < 256 ? [0x81, size] : size < 65536 ? [0x82, size >> 8, size & 255] : [0x83, size >> 16, (size >> 8) & 255, size & 255];
      const bytes = Buffer.concat([Buffer.from([0x04, ...length]), Buffer.alloc(size, 7)]);
      const node = ASN1Obj.parseBuffer(bytes);
      expect(node.toDER().equals(bytes)).toBe(true);
      expect(node.toDER().equals(libraryDer.call(node))).toBe(true);
    }
  });
});

describe("a certificate's signature checked once per pair of certificate objects", () => {
  it('answers as the library does for every pair of real certificates, asked twice', () => {
    const certs = realCertificates().map((b) => X509Certificate.parse(b));
    let valid = 0;
    for (let round = 0; round < 2; round++) {
      for (const cert of certs) {
        expect(cert.verify()).toBe(libraryVerify.call(cert));
        for (const issuer of certs) {
          const ok = cert.verify(issuer);
          expect(ok).toBe(libraryVerify.call(cert, issuer));
          if (round === 0 && ok) valid++;
        }
      }
    }
    // Some pairs hold (each chain's links and self-signed roots), most do not.
    expect(valid).toBeGreaterThan(2);
    expect(valid).toBeLessThan(certs.length * certs.length);
  });

  it("checks a certificate object of its own: a twin with another signature fails after the original passed", () => {
    const certs = realCertificates().map((b) => X509Certificate.parse(b));
    const [leaf, issuer] = (() => {
      for (const c of certs) for (const i of certs) if (c !== i && c.verify(i)) return [c, i];
      throw new Error('no certificate issued by another in the fixtures');
    })();
    expect(leaf.verify(issuer)).toBe(true);
    const forged = Buffer.from(leaf.root.toDER());
    forged[forged.length - 1]! ^= 1; // the signature's last byte
    const twin = X509Certificate.parse(forged);
    expect(twin.verify(issuer)).toBe(false);
    expect(leaf.verify(issuer)).toBe(true);
  });
});
