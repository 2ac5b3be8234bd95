import seeds from '@sigstore/tuf/seeds.json' with { type: 'json' };

/**
 * The public-good Sigstore trusted root, from @sigstore/tuf's embedded trust material. Apart
 * from the verifier (src/supply/sigstore.ts), so that a `verify` whose verdicts are all kept,
 * which needs only the root's digest, does not load the verifier's modules.
 */
export function publicGoodTrustedRoot(): unknown {
  const targets = (seeds as Record<string, { targets: Record<string, string> }>)['https://tuf-repo-cdn.sigstore.dev']!.targets;
  return JSON.parse(Buffer.from(targets['trusted_root.json']!, 'base64').toString('utf8'));
}
