// A fake GitHub on 127.0.0.1: release downloads that redirect to another host (as GitHub's do,
// to its object store), the attestations API, private repositories that need a token, and a
// log of every request with the Authorization header it carried.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Release {
  private?: boolean;
  /** Served as ASSET.sigstore.json beside the asset. */
  sidecar?: string;
  /** Served by the attestations API for the asset's digest. */
  attestation?: { sha256: string; bundle: string };
  /** Claimed Content-Length, to test the size cap without sending the bytes. */
  claimSize?: number;
}

export interface FakeGitHub {
  env: Record<string, string>;
  token: string;
  publish(repo: string, tag: string, asset: string, bytes: Uint8Array, release?: Release): string;
  /** Replaces what an asset serves (a tampered download). */
  tamper(url: string, bytes: Uint8Array): void;
  /** The next `count` requests fail with `status` (and these headers, e.g. Retry-After). */
  failNext(count: number, status?: number, headers?: Record<string, string>): void;
  requests: { host: string; path: string; auth?: string }[];
  downloads(asset: string): number;
  close(): void;
}

export async function fakeGitHub(): Promise<FakeGitHub> {
  const token = 'ghp_test_token';
  const assets = new Map<string, { bytes: Uint8Array; release: Release }>();
  const attestations = new Map<string, { repo: string; bundle: string }>();
  const requests: FakeGitHub['requests'] = [];
  let failures = 0;
  let failure: { status: number; headers: Record<string, string> } = { status: 502, headers: {} };
  const server = createServer((req, res) => {
    const host = req.headers.host ?? '';
    const path = decodeURIComponent(req.url ?? '');
    requests.push({ host, path, auth: req.headers.authorization });
    if (failures > 0) {
      failures--;
      return void res.writeHead(failure.status, failure.headers).end('try later');
    }
    const authorised = req.headers.authorization === `Bearer ${token}`;
    const object = /^\/objects(\/.+)$/.exec(path);
    if (object) {
      const a = assets.get(object[1]!);
      if (!a) return void res.writeHead(404).end();
      if (a.release.claimSize) return void res.writeHead(200, { 'content-length': a.release.claimSize }).end();
      return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(a.bytes);
    }
    // GitHub's REST answer for a collaborator: user0-user9 may write, "ghost" is no collaborator.
    const perm = /^\/api\/repos\/[^/]+\/[^/]+\/collaborators\/([^/]+)\/permission$/.exec(path);
    if (perm) {
      if (!authorised) return void res.writeHead(401).end('{"message":"Requires authentication"}');
      if (perm[1] === 'ghost') return void res.writeHead(404).end('{"message":"Not Found"}');
      const write = /^user\d$/.test(perm[1]!);
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ permission: write ? 'write' : 'read', user: { login: perm[1] } }));
    }
    const att = /^\/api\/repos\/([^/]+\/[^/]+)\/attestations\/sha256:([0-9a-f]+)$/.exec(path);
    if (att) {
      const hit = attestations.get(att[2]!);
      if (!hit || hit.repo !== att[1]) return void res.writeHead(404).end('{"message":"Not Found"}');
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ attestations: [{ bundle: JSON.parse(hit.bundle) }] }));
    }
    const release = /^(\/[^/]+\/[^/]+)\/releases\/download\/[^/]+\/.+$/.exec(path);
    if (release) {
      const sidecar = /^(.*)\.sigstore\.json$/.exec(path);
      const a = assets.get(sidecar ? sidecar[1]! : path);
      if (!a || (a.release.private && !authorised)) return void res.writeHead(404).end('Not Found');
      if (sidecar) {
        if (!a.release.sidecar) return void res.writeHead(404).end('Not Found');
        return void res.writeHead(200).end(a.release.sidecar);
      }
      // Like GitHub: the download redirects to an object store on another host.
      return void res.writeHead(302, { location: `http://localhost:${port}/objects${path}` }).end();
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    env: { GITHUB_SERVER_URL: base, GITHUB_API_URL: `${base}/api`, GITHUB_TOKEN: token },
    token,
    publish(repo, tag, asset, bytes, release = {}) {
      const path = `/${repo}/releases/download/${tag}/${asset}`;
      assets.set(path, { bytes, release });
      if (release.attestation) attestations.set(release.attestation.sha256, { repo, bundle: release.attestation.bundle });
      return `${base}${path}`;
    },
    tamper(url, bytes) {
      const path = new URL(url).pathname;
      assets.get(path)!.bytes = bytes;
    },
    failNext(count, status = 502, headers = {}) {
      failures = count;
      failure = { status, headers };
    },
    requests,
    downloads: (asset) => requests.filter((r) => r.path.startsWith('/objects/') && r.path.endsWith(`/${asset}`)).length,
    close: () => server.close(),
  };
}
