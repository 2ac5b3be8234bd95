import { SEPARATOR } from './catalog.ts';

/**
 * What one agent may use ([gateway.agent_policies]): the servers it names (all, unset) and the
 * tools matching its patterns on `<server>___<tool>` (`*`: any characters; all, unset). What an
 * agent may not use it is not shown, and asking for it is refused by name.
 */
export class AgentPolicy {
  readonly #servers?: Set<string>;
  readonly #tools?: RegExp[];

  constructor(policy: { servers?: string[]; tools?: string[] } = {}) {
    if (policy.servers) this.#servers = new Set(policy.servers);
    if (policy.tools) this.#tools = policy.tools.map((p) => new RegExp(`^${p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  }

  server(name: string): boolean {
    return !this.#servers || this.#servers.has(name);
  }

  /** A tool by its gateway-wide name, `<server>___<tool>`. */
  tool(full: string): boolean {
    const at = full.indexOf(SEPARATOR);
    return this.server(at < 0 ? '' : full.slice(0, at)) && (!this.#tools || this.#tools.some((t) => t.test(full)));
  }
}
