// repo-visibility: labels the GitHub MCP server's tools by repository visibility.
import { READ, READ_WRITE, Value, WRITE, agent, callBackend, labeledItems, labels, log, resource, resultJson } from "../../../sdk/assemblyscript";

const CONTRIBUTOR = "contributor";
const MAINTAINER = "maintainer";

/**
 * Visibility learned from the backend, per "owner/repo". Bounded: an instance that met many
 * repositories would grow toward its memory cap, and each collection costs the whole live heap.
 */
const known = new Map<string, bool>();
const MAX_KNOWN = 1000;

/**
 * Policy: gh-aw-mcpg's { "allow-only": { "repos": "public" | "all", "min-integrity": "none" |
 * "unapproved" | "approved" | "merged" } } (mcpg checks its shape before label_agent).
 * repos = "all" clears the agent to read private repositories; min-integrity is both what the agent
 * demands of what it reads and what it may write with: approved = contributor, merged = maintainer.
 */
export function labelAgent(policy: Value): Value | null {
  const allow = policy.get("allow-only");
  const repos = allow != null ? allow.str("repos", "public") : "public";
  const min = allow != null ? allow.str("min-integrity", "none") : "none";
  const secrecy: string[] = repos == "all" ? ["private:*"] : [];
  const integrity: string[] = min == "merged" ? [CONTRIBUTOR, MAINTAINER] : min == "approved" ? [CONTRIBUTOR] : [];
  return agent(secrecy, integrity);
}

function isPrivate(repo: string): bool {
  if (known.has(repo)) return known.get(repo);
  const args = Value.obj().set("query", Value.str("repo:" + repo));
  const result = callBackend("search_repositories", args);
  // Unknown or unreachable counts as private: the guard fails closed. Only an answer is kept:
  // a lookup that failed (the backend down, a bad answer) decides this call alone.
  const doc = result != null ? resultJson(result) : null;
  const items = doc != null ? doc.get("items") : null;
  if (items == null || !items.isArray) {
    log(2, "repository " + repo + ": lookup failed; private for this call");
    return true;
  }
  let priv = true;
  for (let i = 0; i < items.items.length; i++) {
    const item = items.items[i];
    if (sameName(item.str("full_name"), repo)) priv = item.flag("private", true);
  }
  log(0, "repository " + repo + (priv ? " is private" : " is public"));
  if (known.size >= MAX_KNOWN) known.clear();
  known.set(repo, priv);
  return priv;
}

/**
 * Two "owner/repo" names the same, ASCII letters in either case (GitHub's names are ASCII; any
 * other character must match exactly, and a name that does not match is private).
 */
function sameName(a: string, b: string): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x != y) return false;
  }
  return true;
}

function repoOf(args: Value): string {
  const owner = args.str("owner");
  const repo = args.str("repo");
  return owner.length > 0 && repo.length > 0 ? owner + "/" + repo : "";
}

function secrecyOf(repo: string): string[] {
  return repo.length > 0 && isPrivate(repo) ? ["private:" + repo] : [];
}

export function labelResource(input: Value): Value | null {
  const tool = input.str("tool_name");
  const args = input.get("tool_args");
  const repo = args != null ? repoOf(args) : "";
  const secrecy = secrecyOf(repo);
  const what = tool + (repo.length > 0 ? " on " + repo : "");
  // Only collections are labeled item by item: any other response takes these labels, unread.
  const whole = !labeledPerItem(tool);
  if (tool == "merge_pull_request") return resource(what, secrecy, [MAINTAINER], READ_WRITE, whole);
  if (tool.startsWith("list_") || tool.startsWith("get_") || tool.startsWith("search_")) {
    return resource(what, secrecy, [CONTRIBUTOR, MAINTAINER], READ, whole);
  }
  if (tool.startsWith("create_") || tool.startsWith("update_") || tool.startsWith("add_")) {
    return resource(what, secrecy, [CONTRIBUTOR], WRITE, whole);
  }
  // Anything else may change the repository: only a maintainer may, and nothing secret leaks into it.
  return resource(what, secrecy, [MAINTAINER], WRITE, whole);
}

/** Whether a tool's response is a collection labelResponse labels item by item. */
function labeledPerItem(tool: string): bool {
  return tool.startsWith("list_") || tool.startsWith("search_");
}

const BOTH: string[] = [CONTRIBUTOR, MAINTAINER];
const ONLY_CONTRIBUTOR: string[] = [CONTRIBUTOR];
const NONE: string[] = [];
// A public item's labels, one per integrity: most items of a collection are alike, and each
// made anew was three allocations.
const PUBLIC_BOTH = labels(NONE, BOTH);
const PUBLIC_CONTRIBUTOR = labels(NONE, ONLY_CONTRIBUTOR);
const PUBLIC_NONE = labels(NONE, NONE);

function itemIntegrity(item: Value): string[] {
  const assoc = item.str("author_association");
  if (assoc == "OWNER" || assoc == "MEMBER") return BOTH;
  if (assoc == "COLLABORATOR" || assoc == "CONTRIBUTOR") return ONLY_CONTRIBUTOR;
  if (assoc.length == 0) return BOTH;
  return NONE;
}

function itemLabels(secrecy: string[], integrity: string[]): Value {
  if (secrecy.length > 0) return labels(secrecy, integrity);
  return integrity == BOTH ? PUBLIC_BOTH : integrity == ONLY_CONTRIBUTOR ? PUBLIC_CONTRIBUTOR : PUBLIC_NONE;
}

/** list_* and search_* results are labeled per item; anything else takes the resource labels. */
export function labelResponse(input: Value): Value | null {
  const tool = input.str("tool_name");
  if (!labeledPerItem(tool)) return null;
  const result = input.get("tool_result");
  const doc = result != null ? resultJson(result) : null;
  if (doc == null) return null;
  let items: Value | null = doc;
  let itemsPath = "";
  if (doc.isObject) {
    items = doc.get("items");
    itemsPath = "/items";
  }
  if (items == null || !items.isArray) return null;
  const args = input.get("tool_args");
  const repo = args != null ? repoOf(args) : "";
  const each: Value[] = [];
  for (let i = 0; i < items.items.length; i++) {
    const item = items.items[i];
    // A search result names its repository; a listing belongs to the repository in the arguments.
    const flagged = item.isObject && item.get("private") != null;
    const secrecy: string[] = flagged && !item.flag("private", true)
      ? NONE
      : flagged ? ["private:" + item.str("full_name", repo)] : secrecyOf(item.str("full_name", repo));
    each.push(itemLabels(secrecy, itemIntegrity(item)));
  }
  return labeledItems(itemsPath, each);
}
