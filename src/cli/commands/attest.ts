import type { CommandModule } from 'yargs';
import { readNamedFile } from '../../shared/files.ts';
import { MAX_GUARD_BYTES } from '../../supply/fetch.ts';
import { publicGoodTrustedRoot } from '../../supply/trusted-root.ts';
import { out } from '../output.ts';

interface Args {
  bundle: string;
  'certificate-identity'?: string;
  'certificate-oidc-issuer'?: string;
  key?: string;
  'trusted-root'?: string;
  file: string;
}

/** A file named on the command line: at most a guard's size (an artifact, a bundle, a key). */
const read = (file: string, what: string) => readNamedFile(file, MAX_GUARD_BYTES, 'USAGE', what);

/** The Sigstore conformance CLI's `verify-bundle`, on the same verifier guards go through. */
const verifyBundleCommand: CommandModule<object, Args> = {
  command: 'verify-bundle <file>',
  describe: 'Verify a Sigstore bundle for a file (or sha256:DIGEST); exit 0 when valid',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'the artifact, or sha256:<hex> for an attestation' })
      .option('bundle', { type: 'string', demandOption: true, describe: 'the Sigstore bundle (.sigstore.json)' })
      .option('certificate-identity', { type: 'string', describe: 'the exact certificate identity (SAN)' })
      .option('certificate-oidc-issuer', { type: 'string', describe: 'the OIDC issuer the certificate must name' })
      .option('key', { type: 'string', describe: 'PEM public key, for key-signed bundles' })
      .option('trusted-root', { type: 'string', describe: 'trusted_root.json (default: the public-good root built in)' })
      .check((a) => {
        if (a.key ? a['certificate-identity'] || a['certificate-oidc-issuer'] : !(a['certificate-identity'] && a['certificate-oidc-issuer'])) {
          throw new Error('give either --certificate-identity with --certificate-oidc-issuer, or --key');
        }
        return true;
      }),
  handler: async (args) => {
    const { verifyBundle } = await import('../../supply/sigstore.ts');
    const digest = /^sha256:([0-9a-f]{64})$/i.exec(args.file);
    const signer = verifyBundle({
      what: args.file,
      bundle: read(args.bundle, 'bundle'),
      artifact: digest ? { sha256: digest[1]! } : read(args.file, 'artifact'),
      trustedRoot: args['trusted-root'] ? JSON.parse(read(args['trusted-root'], 'trusted root').toString('utf8')) : publicGoodTrustedRoot(),
      policy: args.key
        ? { key: read(args.key, 'key').toString('utf8') }
        : { issuer: args['certificate-oidc-issuer']!, identity: args['certificate-identity']! },
      anyPredicate: true,
    });
    out(`OK: ${args.file} signed by ${signer.san}${signer.issuer ? ` (${signer.issuer})` : ''}`);
  },
};

export const attestCommand: CommandModule = {
  command: 'attest <command>',
  describe: 'Sigstore verification, as a command',
  builder: (y) => y.command(verifyBundleCommand).demandCommand(1),
  handler: () => {},
};
