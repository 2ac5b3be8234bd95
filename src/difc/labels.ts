/**
 * DIFC labels: a secrecy set and an integrity set of string tags.
 *
 * A tag in the superset side of a comparison may end in `*`: `*` alone matches any tag,
 * `private:octo/*` matches every tag with that prefix. Tags on the subset side are literal.
 */
export interface Labels {
  secrecy: string[];
  integrity: string[];
}

export type Operation = 'read' | 'write' | 'read-write';
export const OPERATIONS: readonly Operation[] = ['read', 'write', 'read-write'];

function covers(pattern: string, tag: string): boolean {
  return pattern.endsWith('*') ? tag.startsWith(pattern.slice(0, -1)) : pattern === tag;
}

/** The tags of `subset` that no tag of `superset` covers: empty when subset ⊆ superset. */
export function uncovered(subset: readonly string[], superset: readonly string[]): string[] {
  return subset.filter((tag) => !superset.some((p) => covers(p, tag)));
}

export function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

export function intersect(a: readonly string[], b: readonly string[]): string[] {
  return a.filter((tag) => b.some((p) => covers(p, tag))).sort();
}

/** An agent's labels after it read data of `read`'s (propagate mode): secrecy grows, integrity shrinks. */
export function absorbed(agent: Labels, read: Labels): Labels {
  return { secrecy: union(agent.secrecy, read.secrecy), integrity: intersect(agent.integrity, read.integrity) };
}

export function format(labels: Labels): string {
  return `secrecy [${labels.secrecy.join(', ')}], integrity [${labels.integrity.join(', ')}]`;
}
