/**
 * RFC 6570 URI templates as mcpg routes by them: `{var}` matches within one path segment,
 * `{+var}`, `{#var}` and `{/var}` match across segments. Matching runs in time linear in the
 * URI times the template's length, whatever the template (a regular expression of several
 * `.*` backtracks exponentially on a URI that almost matches).
 */
const MAX_URI = 64 * 1024;

type Step = { char: string } | { wild: 'any' | 'segment' };

export class UriTemplate {
  readonly #steps: Step[];
  /** The fixed text before the first expression. */
  readonly prefix: string;
  /** The prefix names a URI scheme (`notes:`): the template can be routed by. */
  readonly scheme: boolean;

  constructor(template: string) {
    this.#steps = [];
    for (const part of template.split(/(\{[^}]*\})/)) {
      if (!part) continue;
      if (part.startsWith('{')) {
        const wild = /^\{[+#/]/.test(part) ? 'any' : 'segment';
        // Two wildcards in a row match what the wider one matches.
        const last = this.#steps.at(-1);
        if (last && 'wild' in last) last.wild = last.wild === 'any' || wild === 'any' ? 'any' : 'segment';
        else this.#steps.push({ wild });
      } else for (const char of part) this.#steps.push({ char });
    }
    const first = this.#steps.findIndex((s) => 'wild' in s);
    this.prefix = this.#steps
      .slice(0, first < 0 ? undefined : first)
      .map((s) => ('char' in s ? s.char : ''))
      .join('');
    this.scheme = /^[a-z][a-z0-9+.-]*:./i.test(this.prefix);
  }

  /** Does `uri` match? A simulation of every position at once (Thompson's construction). */
  test(uri: string): boolean {
    if (uri.length > MAX_URI) return false;
    const steps = this.#steps;
    let current = this.#closure(new Set([0]));
    for (const char of uri) {
      const next = new Set<number>();
      for (const at of current) {
        const step = steps[at];
        if (!step) continue;
        if ('wild' in step) {
          if (step.wild === 'any' || char !== '/') next.add(at);
        } else if (step.char === char) next.add(at + 1);
      }
      if (!next.size) return false;
      current = this.#closure(next);
    }
    return current.has(steps.length);
  }

  /** Could one URI match both templates? Judged by their fixed starts (enough to warn). */
  overlaps(other: UriTemplate): boolean {
    return this.prefix.startsWith(other.prefix) || other.prefix.startsWith(this.prefix);
  }

  /** A wildcard may match nothing: the position after it is reachable too. */
  #closure(set: Set<number>): Set<number> {
    for (const at of set) if (this.#steps[at] && 'wild' in this.#steps[at]) set.add(at + 1);
    return set;
  }
}
