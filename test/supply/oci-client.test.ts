// The OCI client's parts in process: references, challenges, credentials and what a hostile
// registry can send. The real registry's end-to-end runs are in oci.test.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OciRegistry, guardManifest, parseChallenge, registryCredentials, wasmLayer } from '../../src/supply/oci.ts';
import { formatRef, parseOciRef } from '../../src/supply/oci-ref.ts';
import { tempDir } from '../helpers/mcpg.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('OCI references', () => {
  it('reads registry, repository, tag and digest, with or without oci://', () => {
    expect(parseOciRef('ghcr.io/octo/guards/allow:1.0.0')).toEqual({ registry: 'ghcr.io', repository: 'octo/guards/allow', tag: '1.0.0', digest: undefined });
    expect(parseOciRef(`oci://127.0.0.1:5000/g@${D}`)).toEqual({ registry: '127.0.0.1:5000', repository: 'g', tag: undefined, digest: D });
    expect(formatRef(parseOciRef(`localhost:5000/a/b:v1@${D}`))).toBe(`localhost:5000/a/b:v1@${D}`);
  });

  it.each([
    ['octo/guard:1.0.0', 'must start with the registry host'],
    ['ghcr.io/octo/guard', 'needs a :TAG or an @sha256: digest'],
    ['ghcr.io/Octo/guard:1', 'is not a repository name'],
    ['ghcr.io/octo/guard@sha256:abc', 'a digest is sha256:'],
    ['ghcr.io/octo/guard:-bad', 'is not a tag'],
  ])('refuses %s', (ref, why) => {
    expect(() => parseOciRef(ref)).toThrow(why);
  });
});

describe('registry challenges and credentials', () => {
  it('parses a Bearer challenge with quoted and escaped values', () => {
    expect(parseChallenge('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:a/b:pull' },
    });
    expect(parseChallenge('Basic realm="say \\"hi\\""')).toEqual({ scheme: 'basic', params: { realm: 'say "hi"' } });
    expect(parseChallenge(`Bearer realm="${'x'.repeat(5000)}"`)).toBeUndefined();
  });

  it('reads the Docker config for the registry, and GITHUB_TOKEN for ghcr.io only', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { 'https://registry.example:5000/v1/': { auth: Buffer.from('me:secret:with:colons').toString('base64') }, 'other.example': { username: 'u', password: 'p' } } }),
    );
    expect(registryCredentials('registry.example:5000', { DOCKER_CONFIG: dir })).toMatchObject({ username: 'me', password: 'secret:with:colons' });
    expect(registryCredentials('other.example', { DOCKER_CONFIG: dir })).toMatchObject({ username: 'u', password: 'p' });
    const empty = tempDir();
    expect(registryCredentials('ghcr.io', { DOCKER_CONFIG: empty, GITHUB_TOKEN: 'ghs_x', GITHUB_ACTOR: 'octo' })).toEqual({ username: 'octo', password: 'ghs_x', from: 'GITHUB_TOKEN' });
    expect(registryCredentials('registry.example:5000', { DOCKER_CONFIG: empty, GITHUB_TOKEN: 'ghs_x' })).toBeUndefined();
    writeFileSync(join(empty, 'config.json'), '{not json');
    expect(() => registryCredentials('ghcr.io', { DOCKER_CONFIG: empty })).toThrow(/config\.json: not JSON/);
  });
});

describe('a hostile registry', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());
  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ host: string; seen: IncomingMessage[] }> {
    const seen: IncomingMessage[] = [];
    const server = createServer((req, res) => {
      seen.push(req);
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    close = () => server.close();
    return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }
  const client = (host: string, env: NodeJS.ProcessEnv = { DOCKER_CONFIG: tempDir() }) => new OciRegistry(host, { label: 'guard "g"', env });

  it('does not follow a token realm over plain HTTP to another host', async () => {
    const { host } = await serve((_, res) => res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://tokens.example/token",service="x"' }).end());
    await expect(client(host).manifest('a/b', '1')).rejects.toThrow('guard "g": ' + host + ' names the token service http://tokens.example/token; only https:// is used');
  });

  it('sends GITHUB_TOKEN to no registry but ghcr.io', async () => {
    const { host, seen } = await serve((_, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end());
    await expect(client(host, { DOCKER_CONFIG: tempDir(), GITHUB_TOKEN: 'ghs_secret' }).manifest('a/b', '1')).rejects.toThrow(/anonymously/);
    expect(seen.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('refuses a manifest whose bytes are not the digest asked for, and one over the size cap', async () => {
    const { host } = await serve((req, res) => {
      if (req.url?.includes('big')) return void res.writeHead(200, { 'content-length': String(5 * 1024 * 1024) }).end();
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('{"schemaVersion":2}');
    });
    await expect(client(host).manifest('a/b', D)).rejects.toThrow(`the registry answered a manifest with digest sha256:`);
    await expect(client(host).manifest('a/big', '1')).rejects.toThrow(/over the 4194304-byte size cap/);
  });

  it('refuses an index, and a manifest without exactly one wasm layer', () => {
    const what = 'guard "g": r/x:1';
    expect(() => wasmLayer(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), what)).toThrow('is an image index');
    const two = JSON.parse(Buffer.from(guardManifest(new Uint8Array([0, 97, 115, 109])).manifest).toString());
    two.layers.push(two.layers[0]);
    expect(() => wasmLayer(Buffer.from(JSON.stringify(two)), what)).toThrow('has 2 WebAssembly layers');
    expect(wasmLayer(guardManifest(new Uint8Array([0, 97, 115, 109])).manifest, what).mediaType).toBe('application/wasm');
  });
});
