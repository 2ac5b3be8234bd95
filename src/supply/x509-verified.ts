import { X509Certificate } from '@sigstore/core';

/**
 * A certificate's signature checked once per pair of certificate objects. @sigstore/verify
 * builds each bundle's chain anew, and so checks the trusted root's own pairs (intermediate by
 * root, the root by itself, the timestamp authority's chain) again for every bundle, importing
 * the issuer's key each time: with the trust material made once per root (sigstore.ts), these
 * are the same objects, and their answer is kept. Keyed by the objects, not their names: a
 * bundle's certificate is a new object, checked on its own. The library never edits a parsed
 * certificate in place (its SCT check edits a clone), so an object's bytes are those it was
 * checked with. With the trust material made once too, `guard verify` of 10 signed guards cold:
 * 122-135 against 142-151 ms (6 alternating runs).
 */
const verified = new WeakMap<X509Certificate, WeakMap<X509Certificate, boolean>>();

/** The library's own check, for the test that holds the two to the same answers. */
export const libraryVerify: (this: X509Certificate, issuer?: X509Certificate) => boolean = X509Certificate.prototype.verify;

X509Certificate.prototype.verify = function (this: X509Certificate, issuer?: X509Certificate) {
  const by = issuer ?? this;
  let answers = verified.get(this);
  if (!answers) verified.set(this, (answers = new WeakMap()));
  let ok = answers.get(by);
  if (ok === undefined) answers.set(by, (ok = libraryVerify.call(this, issuer)));
  return ok;
};
