import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import { logger } from '../shared/log.ts';
import type { ServerPins } from '../supply/lock.ts';
import type { Backend, ListKind } from './backend.ts';
import { UriTemplate } from './uri-template.ts';
import { PIN_WORD, type PinKind, type PinMode, checkPin } from './pins.ts';

/** `<server>___<tool>`: gh-aw-mcpg's convention, so agents' prompts and configs carry over. */
export const SEPARATOR = '___';

interface Entry<T> {
  backend: Backend;
  original: string;
  item: T;
}

const log = logger('catalog');

/** How a server's definitions are held to their pins. */
export type Pinning = (server: string) => { mode: PinMode; pins?: ServerPins };

/** A definition that failed its pin: withheld (strict), or let through with a warning (warn). */
export interface PinNote {
  why: string;
  withheld: boolean;
}

/**
 * The aggregate of every backend's tools, prompts and resources, and the routes back to them.
 * Each backend's share is refreshed on its own when it says its list changed.
 */
export class Catalog {
  readonly #tools = new Map<string, Map<string, Entry<Tool>>>();
  readonly #prompts = new Map<string, Map<string, Entry<Prompt>>>();
  readonly #resources = new Map<string, Map<string, Entry<Resource>>>();
  readonly #templates = new Map<string, { backend: Backend; template: ResourceTemplate; pattern: UriTemplate }[]>();
  /** Per server and kind that has any: the names whose definitions failed their pins, and how. */
  readonly #notes = new Map<string, Map<string, PinNote>>();
  readonly #pinning: Pinning;

  /** Lists come out in config order, whichever backend answers first. */
  constructor(servers: string[], pinning: Pinning = () => ({ mode: 'off' })) {
    this.#pinning = pinning;
    for (const name of servers) {
      this.#tools.set(name, new Map());
      this.#prompts.set(name, new Map());
      this.#resources.set(name, new Map());
      this.#templates.set(name, []);
    }
  }

  /** What failed its pin, by the name the agent sees (a tool or prompt) or a template's URI template. */
  pinNote(name: string): PinNote | undefined {
    // Asked on every call: nearly always there are none, and no map is walked.
    if (!this.#notes.size) return undefined;
    for (const [key, notes] of this.#notes) if (key.endsWith(`\n${serverOf(name)}`) || key.startsWith('resource_templates')) {
      const note = notes.get(name);
      if (note) return note;
    }
    return undefined;
  }

  /** Keeps the definitions that pass their pins (all, unless the server's mode is strict). */
  #pinned<T extends object>(backend: Backend, kind: PinKind, items: T[], nameOf: (item: T) => string): T[] {
    const { mode, pins } = this.#pinning(backend.name);
    const notes = new Map<string, PinNote>();
    const kept =
      mode === 'off'
        ? items
        : items.filter((item) => {
            const check = checkPin(kind, item as Record<string, unknown>, pins);
            if (check.ok) return true;
            const name = nameOf(item);
            const withheld = mode === 'strict';
            notes.set(name, { why: check.why, withheld });
            log.warn(`server "${backend.name}": ${PIN_WORD[kind]} "${name}": ${check.why}; ${withheld ? 'withheld' : 'let through (pin = "warn")'} (review with \`mcpg tools diff\`)`);
            return !withheld;
          });
    // Only a server and kind with notes is kept: none at all is the common case pinNote tests for.
    const key = `${kind}\n${backend.name}`;
    if (notes.size) this.#notes.set(key, notes);
    else this.#notes.delete(key);
    return kept;
  }

  async refresh(backend: Backend, kind: ListKind): Promise<void> {
    const full = (name: string) => `${backend.name}${SEPARATOR}${name}`;
    if (kind === 'tools') {
      const tools = (await backend.list('tools')) as unknown as Tool[];
      const allow = backend.config.tools;
      const missing = allow?.filter((t) => !tools.some((x) => x.name === t)) ?? [];
      if (missing.length) log.warn(`server "${backend.name}": allow-listed tools not offered: ${missing.join(', ')}`);
      const kept = this.#pinned(backend, 'tools', tools.filter((t) => !allow || allow.includes(t.name)), (t) => full(t.name));
      this.#tools.set(backend.name, new Map(kept.map((t) => [full(t.name), { backend, original: t.name, item: t }])));
    } else if (kind === 'prompts') {
      const prompts = (await backend.list('prompts')) as unknown as Prompt[];
      const kept = this.#pinned(backend, 'prompts', prompts, (p) => full(p.name));
      this.#prompts.set(backend.name, new Map(kept.map((p) => [full(p.name), { backend, original: p.name, item: p }])));
    } else {
      const resources = (await backend.list('resources')) as unknown as Resource[];
      const templates = this.#pinned(backend, 'resource_templates', (await backend.list('resource_templates')) as unknown as ResourceTemplate[], (t) => t.uriTemplate);
      // URIs are the servers' own names: one offered by two servers goes to the first configured.
      for (const r of resources) {
        const other = [...this.#resources].find(([name, m]) => name !== backend.name && m.has(r.uri))?.[0];
        if (other) log.warn(`servers "${other}" and "${backend.name}" both offer resource ${r.uri}; it is read from the first in the config`);
      }
      this.#resources.set(backend.name, new Map(resources.map((r) => [r.uri, { backend, original: r.uri, item: r }])));
      const routable = templates.map((template) => ({ backend, template, pattern: new UriTemplate(template.uriTemplate) }));
      for (const t of routable) {
        if (!t.pattern.scheme) log.warn(`server "${backend.name}": resource template ${t.template.uriTemplate} does not start with a URI scheme; no URI is routed to it`);
        const other = [...this.#templates].find(([name, list]) => name !== backend.name && list.some((o) => o.pattern.overlaps(t.pattern)))?.[0];
        if (t.pattern.scheme && other) log.warn(`servers "${other}" and "${backend.name}" both have resource templates for ${t.pattern.prefix}…; a URI goes to the template with the longest fixed start, then to the first in the config`);
      }
      this.#templates.set(backend.name, routable);
    }
  }

  tools(): Tool[] {
    return [...this.#tools.values()].flatMap((m) => [...m].map(([name, e]) => ({ ...e.item, name })));
  }
  prompts(): Prompt[] {
    return [...this.#prompts.values()].flatMap((m) => [...m].map(([name, e]) => ({ ...e.item, name })));
  }
  /** Resources (of one server, or of all: each URI once, from the first server that lists it). */
  resources(server?: string): Resource[] {
    const seen = new Set<string>();
    return [...this.#resources]
      .filter(([name]) => server === undefined || name === server)
      .flatMap(([, m]) => [...m.values()].filter((e) => !seen.has(e.original) && seen.add(e.original)).map((e) => e.item));
  }
  templates(server?: string): ResourceTemplate[] {
    return [...this.#templates].filter(([name]) => server === undefined || name === server).flatMap(([, l]) => l.map((t) => t.template));
  }

  /** A tool's server, its own name there, and whether its calls may (or must) run as tasks. */
  tool(name: string): { backend: Backend; name: string; taskSupport?: unknown } | undefined {
    const e = this.#tools.get(serverOf(name))?.get(name);
    return e && { backend: e.backend, name: e.original, taskSupport: e.item.execution?.taskSupport };
  }
  prompt(name: string): { backend: Backend; name: string } | undefined {
    const e = this.#prompts.get(serverOf(name))?.get(name);
    return e && { backend: e.backend, name: e.original };
  }
  /** The server of a resource template, by its URI template (completion refers to it so). */
  template(uriTemplate: string): { backend: Backend; name: string } | undefined {
    for (const list of this.#templates.values()) for (const t of list) if (t.template.uriTemplate === uriTemplate) return { backend: t.backend, name: uriTemplate };
    return undefined;
  }

  /**
   * The server a URI is read from: the first (in config order) that listed it; otherwise the
   * server whose template matches it with the longest fixed start. Templates without a fixed
   * scheme (`{+any}`) route nothing: a catch-all must not receive other servers' URIs.
   */
  resource(uri: string): Backend | undefined {
    for (const m of this.#resources.values()) {
      const e = m.get(uri);
      if (e) return e.backend;
    }
    let best: { backend: Backend; length: number } | undefined;
    for (const list of this.#templates.values()) {
      for (const t of list) {
        if (t.pattern.scheme && t.pattern.prefix.length > (best?.length ?? -1) && t.pattern.test(uri)) best = { backend: t.backend, length: t.pattern.prefix.length };
      }
    }
    return best?.backend;
  }
}

function serverOf(name: string): string {
  const at = name.indexOf(SEPARATOR);
  return at < 0 ? '' : name.slice(0, at);
}
