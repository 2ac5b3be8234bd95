import type { Dispatcher } from 'undici';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { githubHosts } from './github.ts';

/**
 * The only network code in mcpg. HTTPS only (plain HTTP only to loopback, for tests); redirects
 * followed by hand so each hop is checked; GITHUB_TOKEN (or GH_TOKEN) sent only to GitHub's own
 * hosts and never again once a redirect has left them; retries with backoff on 408, 429, 5xx and
 * connection resets; a size cap and a timeout; HTTPS_PROXY/HTTP_PROXY/NO_PROXY honoured.
 */
export interface FetchOptions {
  maxBytes?: number;
  timeoutMs?: number;
  accept?: string;
  /** Shown in the progress line on a terminal. */
  label?: string;
}

const MAX_REDIRECTS = 5;
const RETRIES = 3;
const DEFAULT_MAX = 64 * 1024 * 1024;

// undici loads on first use: most commands never touch the network, and it costs start-up time.
let http: Promise<{ request: typeof import('undici').request; agent: Dispatcher }> | undefined;
const undici = () =>
  (http ??= import('undici').then((u) => ({ request: u.request, agent: new u.EnvHttpProxyAgent() })));

export class NotFound extends McpgError {}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function checkScheme(url: URL): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return;
  throw new McpgError('SUPPLY_FETCH', `${url.href}: refused: only https:// URLs are fetched`);
}

export async function fetchBytes(href: string, options: FetchOptions = {}): Promise<Uint8Array> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchOnce(href, options);
    } catch (err) {
      if (!(err instanceof Retryable) || attempt >= RETRIES) {
        if (err instanceof McpgError) throw err;
        throw new McpgError('SUPPLY_FETCH', `${href}: ${errorMessage(err)}`);
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }
}

class Retryable extends Error {}

async function fetchOnce(href: string, options: FetchOptions): Promise<Uint8Array> {
  const max = options.maxBytes ?? DEFAULT_MAX;
  const token = process.env.GITHUB_TOKEN || process.env.GH_TOKEN;
  const github = githubHosts();
  let url = new URL(href);
  let leftGitHub = false;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    checkScheme(url);
    leftGitHub ||= !github.has(url.host);
    const headers: Record<string, string> = { 'user-agent': 'mcpg', accept: options.accept ?? '*/*' };
    if (token && !leftGitHub) headers.authorization = `Bearer ${token}`;
    let res: Dispatcher.ResponseData;
    const { request, agent } = await undici();
    try {
      res = await request(url, {
        dispatcher: agent,
        headers,
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (/ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|ECONNREFUSED/.test(code)) throw new Retryable(code);
      throw new McpgError('SUPPLY_FETCH', `${url.href}: ${errorMessage(err)}`);
    }
    const status = res.statusCode;
    if (status >= 300 && status < 400 && res.headers.location) {
      await res.body.dump();
      url = new URL(String(res.headers.location), url);
      continue;
    }
    if (status === 408 || status === 429 || status >= 500) {
      await res.body.dump();
      throw new Retryable(`HTTP ${status}`);
    }
    if (status === 404) {
      await res.body.dump();
      throw new NotFound('SUPPLY_FETCH', `${url.href}: not found (HTTP 404)`);
    }
    if (status !== 200) {
      await res.body.dump();
      const hint = status === 401 || status === 403 ? ' (set GITHUB_TOKEN for private repositories)' : '';
      throw new McpgError('SUPPLY_FETCH', `${url.href}: HTTP ${status}${hint}`);
    }
    const length = Number(res.headers['content-length'] ?? 0);
    if (length > max) {
      await res.body.dump();
      throw new McpgError('SUPPLY_FETCH', `${href}: ${length} bytes, over the ${max}-byte size cap`);
    }
    return readCapped(res, href, max, options.label, length);
  }
  throw new McpgError('SUPPLY_FETCH', `${href}: more than ${MAX_REDIRECTS} redirects`);
}

async function readCapped(res: Dispatcher.ResponseData, href: string, max: number, label: string | undefined, total: number) {
  const chunks: Buffer[] = [];
  let size = 0;
  const progress = process.stderr.isTTY && label;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.body.destroy();
      throw new McpgError('SUPPLY_FETCH', `${href}: more than the ${max}-byte size cap`);
    }
    chunks.push(chunk);
    if (progress) {
      const pct = total ? ` ${Math.floor((100 * size) / total)}%` : '';
      process.stderr.write(`\r${label}${pct} ${(size / 1048576).toFixed(1)} MiB`);
    }
  }
  if (progress) process.stderr.write('\n');
  return new Uint8Array(Buffer.concat(chunks));
}
