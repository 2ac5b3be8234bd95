import { McpgError } from '../shared/errors.ts';
import { NotFound, fetchBytes } from '../supply/fetch.ts';
import { collaboratorPermissionUrl } from '../supply/github.ts';

/**
 * Tools mcpg answers itself when a guard asks its backend for them (`host_tools` in the guard's
 * config), as gh-aw-mcpg does: GitHub's MCP server has no `get_collaborator_permission`, so the
 * gateway asks GitHub's REST API (the token goes to GitHub's API host only, as every fetch).
 * Answers are MCP tool results, cached for the run; each call is counted and audited as a
 * backend call by the pipeline.
 */
export type HostTool = 'get_collaborator_permission';

export class HostTools {
  readonly #cache = new Map<string, Promise<Record<string, unknown>>>();

  call(tool: HostTool, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const [owner, repo, user] = ['owner', 'repo', 'username'].map((k) => args[k]);
    if (typeof owner !== 'string' || typeof repo !== 'string' || typeof user !== 'string') {
      return Promise.reject(new McpgError('BACKEND_UNAVAILABLE', `${tool} needs owner, repo and username`));
    }
    const key = `${owner}/${repo}/${user}`.toLowerCase();
    let answer = this.#cache.get(key);
    if (!answer) {
      answer = permission(owner, repo, user);
      // A failure is not kept: the next call asks again.
      answer.catch(() => this.#cache.delete(key));
      this.#cache.set(key, answer);
    }
    return answer;
  }
}

async function permission(owner: string, repo: string, user: string): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    const bytes = await fetchBytes(collaboratorPermissionUrl(owner, repo, user), { maxBytes: 1024 * 1024, accept: 'application/vnd.github+json', label: 'get_collaborator_permission' });
    body = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    // Not a collaborator (or not visible to the token): no permission, as GitHub's UI shows it.
    if (!(err instanceof NotFound)) throw err;
    body = { permission: 'none', user: { login: user } };
  }
  return { content: [{ type: 'text', text: JSON.stringify(body) }] };
}
