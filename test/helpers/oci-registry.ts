// A real OCI registry for tests: Debian's docker-registry (the CNCF distribution server, 2.8) on
// 127.0.0.1 with token auth, and the token service it names, which grants pull to anyone and
// push to the one user with the right password (as ghcr.io and Docker Hub do). The binary is the
// machine's own when installed, else unpacked from Debian's package into .cache/registry.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { fetchDebian } from '../../scripts/debian.mjs';
import { FIXTURES, ROOT, tempDir } from './mcpg.ts';

export interface TestRegistry {
  /** host:port, as a reference names it. */
  host: string;
  /** The registry's storage folder (to tamper with blobs). */
  storage: string;
  user: string;
  password: string;
  /** A DOCKER_CONFIG folder with these credentials (or others) for the registry. */
  dockerConfig(password?: string): string;
  /** Where the registry keeps a blob's bytes. */
  blobFile(digest: string): string;
  /** Token requests seen: whether each carried credentials, and for what scope. */
  tokenRequests: { basic?: string; scope: string | null }[];
  close(): Promise<void>;
}

function codename(): string {
  try {
    return /^VERSION_CODENAME=(\w+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'bookworm';
  } catch {
    return 'bookworm';
  }
}

/** The distribution server's binary: on PATH, else from Debian's package (no system change). */
export function registryBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'docker-registry'))) return join(dir, 'docker-registry');
  }
  const base = join(ROOT, '.cache/registry');
  const bin = join(base, 'root/usr/bin/docker-registry');
  if (!existsSync(bin)) fetchDebian({ base, suite: codename(), packages: ['docker-registry'], what: 'the OCI registry for the tests' });
  return bin;
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function ociRegistry(): Promise<TestRegistry> {
  const dir = tempDir();
  const storage = join(dir, 'storage');
  mkdirSync(storage);
  const user = 'author';
  const password = randomBytes(12).toString('hex');
  const service = 'mcpg-test-registry';
  const issuer = 'mcpg-test-token-issuer';
  const certPem = readFileSync(join(FIXTURES, 'oci/token-cert.pem'), 'utf8');
  const key = createPrivateKey(readFileSync(join(FIXTURES, 'oci/token-key.pem')));
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const tokenRequests: TestRegistry['tokenRequests'] = [];

  const tokens = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    const basic = auth?.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : undefined;
    tokenRequests.push({ basic, scope: url.searchParams.get('scope') });
    if (basic !== undefined && basic !== `${user}:${password}`) return void res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      const granted = (actions ?? '').split(',').filter((a) => a === 'pull' || (a === 'push' && basic !== undefined));
      return type === 'repository' && name ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: basic?.split(':')[0] ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${input}.${b64url(sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }))}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', r));
  const realm = `http://127.0.0.1:${(tokens.address() as AddressInfo).port}/token`;

  const port = await freePort();
  const certFile = join(dir, 'token-cert.pem');
  writeFileSync(certFile, certPem);
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      'auth:',
      '  token:',
      `    realm: ${realm}`,
      `    service: ${service}`,
      `    issuer: ${issuer}`,
      `    rootcertbundle: ${certFile}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(registryBinary(), ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const res = await fetch(`http://${host}/v2/`);
      if (res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (i > 200) throw new Error(`docker-registry did not answer on ${host}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    host,
    storage,
    user,
    password,
    tokenRequests,
    dockerConfig(pass = password) {
      const d = tempDir();
      writeFileSync(join(d, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${pass}`).toString('base64') } } }));
      return d;
    },
    blobFile(digest) {
      const hex = digest.replace(/^sha256:/, '');
      return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    async close() {
      child.kill();
      tokens.close();
    },
  };
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
