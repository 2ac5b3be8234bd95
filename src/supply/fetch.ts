import type { Dispatcher } from 'undici';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { readBeyondFiles } from '../shared/files.ts';
import { httpsOrLoopback } from '../shared/urls.ts';
import { githubHosts } from './github.ts';

/**
 * The only network code of mcpg's supply chain. HTTPS only (plain HTTP only to loopback, for tests); redirects
 * followed by hand so each hop is checked (undici's redirect interceptor would forward the token:
 * ours is stricter); GITHUB_TOKEN (or GH_TOKEN) sent only to GitHub's own hosts and never again
 * once a redirect has left them; retries by undici's RetryAgent on 408, 429, 5xx and connection
 * failures, honouring Retry-After; a size cap and a timeout; HTTPS_PROXY/HTTP_PROXY/NO_PROXY
 * honoured. Errors name what was being fetched, the URL, and what to try.
 */
export interface FetchOptions {
  maxBytes?: number;
  timeoutMs?: number;
  accept?: string;
  /** Shown in the progress line on a terminal. */
  label?: string;
}

const MAX_REDIRECTS = 5;
/** The largest download, and the largest guard (module or package) mcpg reads from a file. */
export const MAX_GUARD_BYTES = 64 * 1024 * 1024;
/** Connection failures worth another try (DNS failures are not: they rarely heal in seconds). */
const RETRY_CODES = ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'];

// undici loads on first use: most commands never touch the network, and it costs start-up time.
let http: Promise<{ request: typeof import('undici').request; agent: Dispatcher; RetryError: typeof import('undici').errors.RequestRetryError }> | undefined;
const undici = () =>
  (http ??= import('undici').then((u) => ({
    request: u.request,
    agent: new u.RetryAgent(new u.EnvHttpProxyAgent(), {
      maxRetries: 3,
      minTimeout: 250,
      timeoutFactor: 2,
      maxTimeout: 10_000,
      methods: ['GET', 'HEAD'],
      statusCodes: [408, 429, 500, 502, 503, 504],
      errorCodes: RETRY_CODES,
    }),
    RetryError: u.errors.RequestRetryError,
  })));

/** Plain words for a connection failure, and what to try. */
const NETWORK: Record<string, string> = {
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS)',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'the host is unreachable',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified (a TLS-inspecting proxy? set NODE_EXTRA_CA_CERTS)',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate chain is self-signed (a TLS-inspecting proxy? set NODE_EXTRA_CA_CERTS)',
};
const TRY = 'check the network, or set HTTPS_PROXY (and NO_PROXY); a guard already in the cache needs no network (--offline)';

export class NotFound extends McpgError {}

function checkScheme(url: URL): void {
  if (httpsOrLoopback(url)) return;
  throw new McpgError('SUPPLY_FETCH', `${url.href}: refused: only https:// URLs are fetched`);
}

export async function fetchBytes(href: string, options: FetchOptions = {}): Promise<Uint8Array> {
  const token = process.env.GITHUB_TOKEN || process.env.GH_TOKEN;
  const github = githubHosts();
  const credentials = token && github.has(new URL(href).host) ? { hosts: github, authorization: `Bearer ${token}` } : undefined;
  const answer = await exchange(href, { ...options, credentials });
  const status = answer.status;
  const what = options.label ? `${options.label}: ` : '';
  if (status === 404) throw new NotFound('SUPPLY_FETCH', `${what}${answer.url.href}: not found (HTTP 404)`);
  if (status !== 200) {
    const hint = status === 401 || status === 403 ? ' (set GITHUB_TOKEN for private repositories)' : '';
    throw new McpgError('SUPPLY_FETCH', `${what}${answer.url.href}: HTTP ${status}${hint}`);
  }
  return answer.body;
}

export interface ExchangeOptions extends FetchOptions {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Sent as Authorization to these hosts only, and never again once a redirect has left them. */
  credentials?: { hosts: Set<string>; authorization: string };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body of a 2xx answer (capped); empty for any other. */
  body: Uint8Array;
  /** Where the answer came from, after redirects. */
  url: URL;
}

/**
 * One HTTP exchange under the rules above; answers with any status (the caller decides what a
 * 401 or a 404 means). Redirects are followed for GET and HEAD.
 */
export async function exchange(href: string, options: ExchangeOptions = {}): Promise<Answer> {
  // What a run concludes from the network is not kept as if it rested on files.
  readBeyondFiles();
  const what = options.label ? `${options.label}: ` : '';
  try {
    return await exchangeHops(href, options);
  } catch (err) {
    if (err instanceof McpgError) throw new McpgError(err.code, `${what}${err.message}`);
    throw new McpgError('SUPPLY_FETCH', `${what}${href}: ${errorMessage(err)}`);
  }
}

async function exchangeHops(href: string, options: ExchangeOptions): Promise<Answer> {
  const max = options.maxBytes ?? MAX_GUARD_BYTES;
  const method = options.method ?? 'GET';
  let url = new URL(href);
  let leftHosts = false;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    checkScheme(url);
    leftHosts ||= !options.credentials?.hosts.has(url.host);
    const headers: Record<string, string> = { 'user-agent': 'mcpg', accept: options.accept ?? '*/*', ...options.headers };
    if (options.credentials && !leftHosts) headers.authorization = options.credentials.authorization;
    let res: Dispatcher.ResponseData;
    const { request, agent, RetryError } = await undici();
    try {
      res = await request(url, {
        method,
        dispatcher: agent,
        headers,
        body: options.body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
    } catch (err) {
      if (err instanceof RetryError) throw new McpgError('SUPPLY_FETCH', `cannot download ${url.href}: HTTP ${err.statusCode}, still after 3 retries; try again later`);
      const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? '';
      if (code in NETWORK) throw new McpgError('SUPPLY_FETCH', `cannot download ${url.href}: ${NETWORK[code]} (${code}); ${TRY}`);
      if ((err as Error).name === 'TimeoutError') throw new McpgError('SUPPLY_FETCH', `cannot download ${url.href}: no answer within ${(options.timeoutMs ?? 60_000) / 1000}s; ${TRY}`);
      throw new McpgError('SUPPLY_FETCH', `cannot download ${url.href}: ${errorMessage(err)}`);
    }
    const status = res.statusCode;
    if (status >= 300 && status < 400 && res.headers.location && (method === 'GET' || method === 'HEAD')) {
      await res.body.dump();
      url = new URL(String(res.headers.location), url);
      continue;
    }
    if (status < 200 || status >= 300 || method === 'HEAD') {
      await res.body.dump();
      return { status, headers: res.headers, body: new Uint8Array(), url };
    }
    const length = Number(res.headers['content-length'] ?? 0);
    if (length > max) {
      await res.body.dump();
      throw new McpgError('SUPPLY_FETCH', `${href}: ${length} bytes, over the ${max}-byte size cap`);
    }
    return { status, headers: res.headers, body: await readCapped(res, href, max, options.label, length), url };
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
