import { createHash } from 'node:crypto';
import type { Server } from '../config/load.ts';
import { type Pin, type ServerPins, canonical, serverDigest } from '../supply/lock.ts';

/**
 * Pinned definitions: a server may change a tool's description or schema after the user
 * reviewed it (a "rug pull"), and the agent would follow instructions nobody read. `mcpg tools
 * lock` records a digest of every tool, prompt and resource template definition in the lock;
 * at run time a definition that differs from its pin, or has none, is withheld (strict) or
 * logged and audited (warn).
 */

export type PinKind = 'tools' | 'prompts' | 'resource_templates';
export type PinMode = 'strict' | 'warn' | 'off';
export const PIN_WORD: Record<PinKind, string> = { tools: 'tool', prompts: 'prompt', resource_templates: 'resource template' };

/**
 * What is pinned of each kind: everything the agent (or its client) reads and acts on, `_meta`
 * (where clients find UI resources and hints) and `icons` included.
 */
const FIELDS: Record<PinKind, string[]> = {
  tools: ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations', 'icons', '_meta'],
  prompts: ['name', 'title', 'description', 'arguments', 'icons', '_meta'],
  resource_templates: ['uriTemplate', 'name', 'title', 'description', 'mimeType', 'icons', 'annotations', '_meta'],
};

export function keyOf(kind: PinKind, item: Record<string, unknown>): string {
  return String(kind === 'resource_templates' ? item.uriTemplate : item.name);
}

/** Canonical JSON (keys sorted, no whitespace) of the pinned fields, hashed. */
export function pinOf(kind: PinKind, item: Record<string, unknown>): Pin {
  const picked = Object.fromEntries(FIELDS[kind].filter((f) => item[f] !== undefined).map((f) => [f, item[f]]));
  return { sha256: createHash('sha256').update(canonical(picked)).digest('hex'), description: typeof item.description === 'string' ? item.description : '' };
}

/** The mode for a server: its `pin`, else strict once it has pins, else off. */
export function pinMode(server: Server, pins: ServerPins | undefined): PinMode {
  return server.pin ?? (pins ? 'strict' : 'off');
}

export type PinCheck = { ok: true } | { ok: false; why: string };

/** Does a live definition match its pin? */
export function checkPin(kind: PinKind, item: Record<string, unknown>, pins: ServerPins | undefined): PinCheck {
  const pinned = pins?.[kind][keyOf(kind, item)];
  if (!pinned) return { ok: false, why: 'it is not pinned' };
  return pinned.sha256 === pinOf(kind, item).sha256 ? { ok: true } : { ok: false, why: 'its definition differs from its pin' };
}

/** A change between pins and live definitions, for `mcpg tools diff`. */
export interface PinChange {
  kind: PinKind;
  name: string;
  change: 'added' | 'removed' | 'changed';
  old?: string;
  new?: string;
}

export function diffPins(pins: ServerPins | undefined, live: Record<PinKind, Record<string, unknown>[]>): PinChange[] {
  const changes: PinChange[] = [];
  for (const kind of Object.keys(FIELDS) as PinKind[]) {
    const before = pins?.[kind] ?? {};
    const now = new Map(live[kind].map((i) => [keyOf(kind, i), pinOf(kind, i)]));
    for (const [name, pin] of now) {
      const was = before[name];
      if (!was) changes.push({ kind, name, change: 'added', new: pin.description });
      else if (was.sha256 !== pin.sha256) changes.push({ kind, name, change: 'changed', old: was.description, new: pin.description });
    }
    for (const [name, was] of Object.entries(before)) if (!now.has(name)) changes.push({ kind, name, change: 'removed', old: was.description });
  }
  return changes;
}

/** The pins of a server's definitions now. */
export function pinsOf(server: Server, live: Record<PinKind, Record<string, unknown>[]>): ServerPins {
  const of = (kind: PinKind) => Object.fromEntries(live[kind].map((i) => [keyOf(kind, i), pinOf(kind, i)]));
  return { server: serverDigest(server), tools: of('tools'), prompts: of('prompts'), resource_templates: of('resource_templates') };
}
