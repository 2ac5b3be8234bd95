// A hermetic Sigstore for tests: a CA with a CT log, a transparency log and a timestamp
// authority (from @sigstore/mock), served over HTTP on 127.0.0.1 and used by @sigstore/sign's
// real bundle builders; plus the trusted root that matches their keys.
import { type KeyPairKeyObjectResult, createHash, generateKeyPairSync } from 'node:crypto';
import { type AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { type HandlerFn, fulcioHandler, initializeCA, initializeCTLog, initializeTLog, initializeTSA, rekorHandler, tsaHandler } from '@sigstore/mock';
import { DSSEBundleBuilder, FulcioSigner, MessageSignatureBundleBuilder, RekorWitness, TSAWitness } from '@sigstore/sign';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

export interface Identity {
  repository: string;
  workflow?: string;
  ref?: string;
  issuer?: string;
}

export interface TestSigstore {
  trustedRoot: unknown;
  /** A bundle for `artifact`: DSSE with a SLSA provenance statement (like actions/attest-build-provenance), or a message signature. */
  sign(artifact: Uint8Array, identity: Identity, kind?: 'dsse' | 'message', statement?: object): Promise<string>;
  close(): void;
}

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** An unsigned OIDC token with GitHub Actions' claims: the mock CA reads its claims only. */
function token(id: Identity): string {
  const workflow = id.workflow ?? `${id.repository}/.github/workflows/release.yml`;
  const ref = id.ref ?? 'refs/tags/v1.0.0';
  const claims = {
    iss: id.issuer ?? GITHUB_ISSUER,
    sub: `https://github.com/${workflow}@${ref}`,
    repository: id.repository,
    ref,
    job_workflow_ref: `${workflow}@${ref}`,
    workflow_ref: `${workflow}@${ref}`,
    event_name: 'push',
    sha: 'a'.repeat(40),
    aud: 'sigstore',
  };
  return `${b64url({ alg: 'none' })}.${b64url(claims)}.`;
}

/** Mock Rekor logs what it is given; real Rekor logs a dsse entry in canonical form. */
function canonicalDsse(proposed: { kind: string; apiVersion: string; spec: { proposedContent?: { envelope: string; verifiers: string[] } } }) {
  if (proposed.kind !== 'dsse' || !proposed.spec.proposedContent) return proposed;
  const { envelope, verifiers } = proposed.spec.proposedContent;
  const env = JSON.parse(envelope) as { payload: string; signatures: { sig: string }[] };
  const hash = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  return {
    kind: 'dsse',
    apiVersion: proposed.apiVersion,
    spec: {
      envelopeHash: { algorithm: 'sha256', value: hash(envelope) },
      payloadHash: { algorithm: 'sha256', value: hash(Buffer.from(env.payload, 'base64')) },
      signatures: [{ signature: env.signatures[0]!.sig, verifier: verifiers[0] }],
    },
  };
}

/**
 * `privateInstance`: like GitHub's own Sigstore instance for private repositories: no
 * transparency log, no CT log (certificates without SCTs), a timestamp authority only.
 */
export async function testSigstore(options: { privateInstance?: boolean } = {}): Promise<TestSigstore> {
  // Now and then the mock services come up with a certificate whose signature Sigstore's
  // verifier refuses (seen as "timestamp could not be verified" for every bundle they make):
  // check each new instance with a probe signature, and make another if it fails.
  for (let attempt = 1; ; attempt++) {
    const instance = await createInstance(options.privateInstance ?? false);
    const probe = Buffer.from('probe');
    try {
      const bundle = bundleFromJSON(JSON.parse(await instance.sign(probe, { repository: 'probe/probe' })));
      new Verifier(toTrustMaterial(TrustedRoot.fromJSON(instance.trustedRoot)), options.privateInstance ? { tlogThreshold: 0, ctlogThreshold: 0 } : {}).verify(toSignedEntity(bundle));
      return instance;
    } catch (err) {
      instance.close();
      if (attempt >= 5) throw err;
    }
  }
}

async function createInstance(priv: boolean): Promise<TestSigstore> {
  const key = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ctKey = key();
  const tlogKey = key();
  const tsaKey = key();
  // One clock on a whole second for every service: the mock TSA writes fractional seconds
  // without trailing zeros ("…41.11Z"), which Sigstore's DER time parser refuses.
  const clock = new Date(Math.floor(Date.now() / 1000) * 1000);
  const ctLog = await initializeCTLog(ctKey, clock);
  const ca = await initializeCA(key(), priv ? undefined : ctLog, clock);
  const tsa = await initializeTSA(tsaKey, clock);

  const routes = new Map<string, HandlerFn>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const handler = routes.get(req.url ?? '');
      if (!handler) return void res.writeHead(404).end();
      void handler(body).then(({ statusCode, response, contentType }) => {
        res.writeHead(statusCode, { 'content-type': contentType ?? 'text/plain' }).end(response);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tlog = await initializeTLog(base, tlogKey, clock);
  const fulcio = fulcioHandler(ca);
  const rekor = rekorHandler({ ...tlog, log: (entry: object) => tlog.log(canonicalDsse(entry as never)) });
  const timestamp = tsaHandler(tsa);
  for (const h of [fulcio, rekor, timestamp]) routes.set(h.path, h.fn);

  const spki = (k: KeyPairKeyObjectResult) => k.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const start = new Date(Date.now() - 3600_000).toISOString();
  const b64 = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: priv ? [] : [
      {
        baseUrl: base,
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: spki(tlogKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
        logId: { keyId: createHash('sha256').update(tlogKey.publicKey.export({ format: 'der', type: 'spki' })).digest('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'mcpg-test', commonName: 'mcpg test CA' },
        uri: base,
        certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
        validFor: { start },
      },
    ],
    ctlogs: priv ? [] : [
      {
        baseUrl: base,
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: spki(ctKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
        logId: { keyId: b64(ctLog.logID) },
      },
    ],
    timestampAuthorities: [
      {
        subject: { organization: 'mcpg-test', commonName: 'mcpg test TSA' },
        uri: base,
        certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] },
        validFor: { start },
      },
    ],
  };

  return {
    trustedRoot,
    // The mock transparency log now and then fails to log an entry ("error creating tlog
    // entry"): a test signs again rather than fail on the mock's account.
    async sign(artifact, identity, kind = 'dsse', statement) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await signOnce(artifact, identity, kind, statement);
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
    },
    close: () => server.close(),
  };

  async function signOnce(artifact: Uint8Array, identity: Identity, kind: 'dsse' | 'message', statement?: object): Promise<string> {
    const signer = new FulcioSigner({ fulcioBaseURL: base, identityProvider: { getToken: async () => token(identity) } });
    const tsaWitness = new TSAWitness({ tsaBaseURL: base });
    const witnesses = priv ? [tsaWitness] : [new RekorWitness({ rekorBaseURL: base, entryType: 'dsse' }), tsaWitness];
    if (kind === 'message') {
      const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses }).create({ data: Buffer.from(artifact) });
      return JSON.stringify(bundleToJSON(bundle));
    }
    const subject = { name: 'guard.wasm', digest: { sha256: createHash('sha256').update(artifact).digest('hex') } };
    const body = statement ?? {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [subject],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: { buildDefinition: { buildType: 'https://actions.github.io/buildtypes/workflow/v1' } },
    };
    const bundle = await new DSSEBundleBuilder({ signer, witnesses }).create({
      data: Buffer.from(JSON.stringify(body)),
      type: 'application/vnd.in-toto+json',
    });
    return JSON.stringify(bundleToJSON(bundle));
  }
}

