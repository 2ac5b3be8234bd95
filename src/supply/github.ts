/**
 * GitHub's addresses. GITHUB_SERVER_URL and GITHUB_API_URL (set by GitHub Actions, and pointing
 * at a GitHub Enterprise Server or the tests' fake GitHub) override github.com / api.github.com.
 */
export function serverUrl(): URL {
  return new URL(process.env.GITHUB_SERVER_URL || 'https://github.com');
}

export function apiUrl(): URL {
  return new URL(process.env.GITHUB_API_URL || 'https://api.github.com');
}

/** Hosts that may receive GITHUB_TOKEN. */
export function githubHosts(): Set<string> {
  return new Set([serverUrl().host, apiUrl().host]);
}

export interface ReleaseAsset {
  owner: string;
  repo: string;
  tag: string;
  asset: string;
}

/** `<server>/OWNER/REPO/releases/download/TAG/ASSET`, or undefined for any other URL. */
export function parseReleaseUrl(href: string): ReleaseAsset | undefined {
  const url = new URL(href);
  const server = serverUrl();
  if (url.host !== server.host) return undefined;
  const base = server.pathname.replace(/\/$/, '');
  const m = /^\/([^/]+)\/([^/]+)\/releases\/download\/([^/]+)\/([^/]+)$/.exec(url.pathname.slice(base.length));
  return m ? { owner: m[1]!, repo: m[2]!, tag: decodeURIComponent(m[3]!), asset: decodeURIComponent(m[4]!) } : undefined;
}

export function attestationsUrl(owner: string, repo: string, sha256: string): string {
  const api = apiUrl();
  return `${api.origin}${api.pathname.replace(/\/$/, '')}/repos/${owner}/${repo}/attestations/sha256:${sha256}`;
}

/** `<api>/repos/OWNER/REPO/collaborators/USER/permission`: GitHub's REST answer for one user. */
export function collaboratorPermissionUrl(owner: string, repo: string, user: string): string {
  const api = apiUrl();
  const seg = encodeURIComponent;
  return `${api.origin}${api.pathname.replace(/\/$/, '')}/repos/${seg(owner)}/${seg(repo)}/collaborators/${seg(user)}/permission`;
}
