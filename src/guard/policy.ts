import { McpgError } from '../shared/errors.ts';

/**
 * The policy a guard's `label_agent` is given, checked as gh-aw-mcpg checks it
 * (internal/guard/wasm_payload.go, internal/config/guard_policy_validation.go): a policy written
 * as a JSON string is parsed; an `allow-only` policy (gh-aw-mcpg's shape, which its guards
 * read) is validated and normalised field by field, so that a mistake is named here rather than
 * answered by the guard with a bare error code. The aliases gh-aw-mcpg accepts (`allowonly`,
 * `integrity`) are handed to the guard under their canonical names (`allow-only`,
 * `min-integrity`), the only ones its guards read: passed on as written, the guard would not see
 * the integrity requirement at all. Both names at once is refused. Other policies pass as they
 * are: they belong to their guards.
 */

const INTEGRITY = ['none', 'unapproved', 'approved', 'merged'];
const TOP_KEYS = new Set(['allow-only', 'allowonly', 'trusted-bots']);
const ALLOW_ONLY_KEYS = new Set([
  'repos', 'min-integrity', 'integrity', 'blocked-users', 'refusal-labels', 'approval-labels', 'trusted-users',
  'endorsement-reactions', 'disapproval-reactions', 'disapproval-integrity', 'endorser-min-integrity',
]);
/** GitHub's owner and repository name grammar; guard policies also allow "_" in owners. */
const OWNER = /^[a-z0-9_](?:[a-z0-9_-]{0,38})$/i;
const REPO = /^[a-z0-9._-]{1,100}$/i;

export function guardPolicy(guard: string, policy: unknown): unknown {
  const fail = (field: string, why: string) => new McpgError('CONFIG_INVALID', `guard "${guard}": policy${field ? `.${field}` : ''}: ${why}`);
  let value = policy;
  if (typeof value === 'string') {
    const text = value.trim();
    if (!text) throw fail('', 'the policy string is empty');
    try {
      value = JSON.parse(text);
    } catch {
      throw fail('', 'a policy given as a string must be a JSON object');
    }
    if (!isObject(value)) throw fail('', 'a policy given as a string must be a JSON object');
  }
  if (!isObject(value) || !('allow-only' in value || 'allowonly' in value || 'policy' in value)) return value ?? {};
  if ('policy' in value) throw fail('policy', 'remove the legacy "policy" envelope: give { "allow-only": { ... } } itself');

  for (const k of Object.keys(value)) if (!TOP_KEYS.has(k)) throw fail(k, 'unknown key (expected allow-only and optionally trusted-bots)');
  if ('allow-only' in value && 'allowonly' in value) throw fail('allowonly', 'is another name for allow-only: give one of them');
  const key = 'allow-only' in value ? 'allow-only' : 'allowonly';
  const allowOnly = value[key];
  if (!isObject(allowOnly)) throw fail(key, 'expected an object { repos = ..., min-integrity = ... }');
  for (const k of Object.keys(allowOnly)) if (!ALLOW_ONLY_KEYS.has(k)) throw fail(`${key}.${k}`, 'unknown key');
  if ('min-integrity' in allowOnly && 'integrity' in allowOnly) throw fail(`${key}.integrity`, 'is another name for min-integrity: give one of them');
  const integrityKey = 'min-integrity' in allowOnly ? 'min-integrity' : 'integrity';
  if (!('repos' in allowOnly)) throw fail(`${key}.repos`, 'required: "all", "public", or a list of repository scopes');
  if (!(integrityKey in allowOnly)) throw fail(`${key}.min-integrity`, `required: one of ${INTEGRITY.join(', ')}`);

  const out: Record<string, unknown> = { ...allowOnly, repos: repos(allowOnly.repos, (why) => fail(`${key}.repos`, why)) };
  delete out.integrity;
  out['min-integrity'] = integrity(allowOnly[integrityKey], false, (why) => fail(`${key}.${integrityKey}`, why));
  for (const k of ['disapproval-integrity', 'endorser-min-integrity']) {
    if (k in allowOnly) out[k] = integrity(allowOnly[k], true, (why) => fail(`${key}.${k}`, why));
  }
  for (const k of ['blocked-users', 'approval-labels', 'trusted-users', 'endorsement-reactions', 'disapproval-reactions']) {
    if (k in allowOnly) strings(allowOnly[k], false, (why) => fail(`${key}.${k}`, why));
  }
  if ('refusal-labels' in allowOnly) out['refusal-labels'] = labelList(allowOnly['refusal-labels'], (why) => fail(`${key}.refusal-labels`, why));
  if ('trusted-bots' in value) strings(value['trusted-bots'], true, (why) => fail('trusted-bots', why));
  const normalised: Record<string, unknown> = { ...value, 'allow-only': out };
  delete normalised.allowonly;
  return normalised;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type Fail = (why: string) => McpgError;

function repos(raw: unknown, fail: Fail): unknown {
  if (typeof raw === 'string') {
    const v = raw.trim().toLowerCase();
    if (v !== 'all' && v !== 'public') throw fail('a string must be "all" or "public"');
    return v;
  }
  if (!Array.isArray(raw) || raw.length === 0) throw fail('expected "all", "public", or a non-empty list of repository scopes');
  const scopes = raw.map((s) => {
    if (typeof s !== 'string') throw fail('list entries must be strings');
    const v = s.trim().toLowerCase();
    if (v === 'all') throw fail('"all" cannot be combined with other scopes');
    if (v !== 'public' && !validScope(v)) throw fail(`scope "${s}" is invalid; expected public, owner/*, owner/repo or owner/re*`);
    return v;
  });
  if (new Set(scopes).size !== scopes.length) throw fail('must not contain duplicates');
  return scopes.sort();
}

function validScope(scope: string): boolean {
  const [owner, repo, ...rest] = scope.split('/');
  if (rest.length || !owner || repo === undefined || !OWNER.test(owner)) return false;
  if (repo === '*') return true;
  const prefix = repo.endsWith('*');
  const name = prefix ? repo.slice(0, -1) : repo;
  return name !== '' && !name.includes('*') && REPO.test(name) && !(prefix && name.endsWith('.'));
}

function integrity(raw: unknown, optional: boolean, fail: Fail): string {
  const v = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (v === '' && optional) return '';
  if (!INTEGRITY.includes(v)) throw fail(`must be one of: ${INTEGRITY.join(', ')}`);
  return v;
}

function strings(raw: unknown, nonEmpty: boolean, fail: Fail): void {
  if (!Array.isArray(raw)) throw fail(nonEmpty ? 'expected a non-empty list of strings' : 'expected a list of strings');
  if (nonEmpty && raw.length === 0) throw fail('must be a non-empty list when present');
  if (raw.some((e) => typeof e !== 'string' || e.trim() === '')) throw fail('each entry must be a non-empty string');
}

/** A list of labels, or gh-aw-mcpg's comma- or newline-separated string of them. */
function labelList(raw: unknown, fail: Fail): string[] {
  if (Array.isArray(raw)) {
    strings(raw, false, fail);
    return (raw as string[]).map((s) => s.trim());
  }
  if (typeof raw !== 'string') throw fail('expected a list of strings or a comma/newline-separated string');
  const parts = raw.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  if (!parts.length) throw fail('must include at least one non-empty label');
  return parts;
}
