// The SDKs as published: an npm registry and a Go module proxy, served over HTTP on 127.0.0.1
// from this checkout's SDKs, so a template builds from an empty folder the way it would against
// npmjs.org and proxy.golang.org. Other npm packages are passed through to npmjs.org (npm finds
// most in its cache by integrity first).
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GO_MODULE, NPM_PACKAGE, NPM_TARBALL_PATH, SDK_VERSION, goModule, packAssemblyScriptSdk } from '../../scripts/sdk-packages.mjs';
import { tempDir } from './mcpg.ts';

export interface SdkRegistry {
  /** An npmrc that makes this the npm registry (for npm_config_userconfig). */
  npmrc: string;
  /** The npm integrity of the packed AssemblyScript SDK, which the template's lockfile must pin. */
  npmIntegrity: string;
  /** For GOPROXY. */
  goproxy: string;
  /** The paths the package managers asked for. */
  requests: string[];
  close(): Promise<void>;
}

export async function serveSdks(): Promise<SdkRegistry> {
  const dir = tempDir();
  const npm = packAssemblyScriptSdk(dir);
  const tarball = readFileSync(npm.file);
  const go = goModule();
  const goBase = `/go/${GO_MODULE}/@v/`;
  const requests: string[] = [];
  let origin = '';
  const routes = (): Record<string, [string, Buffer | string]> => ({
    [`/${NPM_PACKAGE.replace('/', '%2f')}`]: ['application/json', JSON.stringify({
      name: NPM_PACKAGE,
      'dist-tags': { latest: SDK_VERSION },
      versions: { [SDK_VERSION]: { name: NPM_PACKAGE, version: SDK_VERSION, peerDependencies: { assemblyscript: '^0.28.0' }, dist: { tarball: `${origin}${NPM_TARBALL_PATH}`, integrity: npm.integrity } } },
    })],
    [NPM_TARBALL_PATH]: ['application/octet-stream', tarball],
    [`${goBase}list`]: ['text/plain', `${go.version}\n`],
    [`${goBase}${go.version}.info`]: ['application/json', JSON.stringify({ Version: go.version, Time: '2026-11-01T00:00:00Z' })],
    [`${goBase}${go.version}.mod`]: ['text/plain', go.mod],
    [`${goBase}${go.version}.zip`]: ['application/zip', go.zip],
  });
  const server = createServer((req, res) => {
    const path = (req.url ?? '').replace('%2F', '%2f');
    requests.push(path);
    const route = routes()[path];
    if (route) return res.writeHead(200, { 'content-type': route[0] }).end(route[1]);
    if (path.startsWith('/go/')) return res.writeHead(404).end('not found');
    fetch(`https://registry.npmjs.org${path}`, { headers: { accept: req.headers.accept ?? '*/*' } })
      .then(async (r) => res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' }).end(Buffer.from(await r.arrayBuffer())))
      .catch((e: unknown) => res.writeHead(502).end(String(e)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  origin = `http://127.0.0.1:${port}`;
  const npmrc = join(dir, 'npmrc');
  // The template's lockfile says registry.npmjs.org (as it will once the SDK is published): npm
  // sends those URLs to the configured registry.
  writeFileSync(npmrc, `registry=${origin}/\n`);
  return { npmrc, npmIntegrity: npm.integrity, goproxy: `${origin}/go`, requests, close: () => new Promise((r) => server.close(() => r())) };
}
