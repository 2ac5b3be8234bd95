import { arraySpans } from './json-spans.ts';
import type { Labels } from './labels.ts';

/**
 * How a guard labeled a response (the `label_response` answer, already validated):
 * - `whole`: nothing fine-grained; the resource labels (or the labels given) cover the whole response.
 * - `items`: the guard hands back the collection's items, each with its labels.
 * - `paths`: RFC 6901 pointers into the response document label its items in place.
 */
export type ResponseLabeling =
  | { kind: 'whole'; labels?: Labels }
  | { kind: 'items'; items: { data: unknown; labels: Labels }[] }
  | { kind: 'paths'; paths: { path: string; labels: Labels }[]; defaultLabels?: Labels; itemsPath?: string };

export interface LabeledItem {
  labels: Labels;
}

/** Where the response's JSON document lives, so a filtered document goes back the same way. */
type Source = 'text' | 'structured' | 'raw';

type Result = Record<string, unknown>;

export class ResponseShapeError extends Error {}

/**
 * The deepest JSON text in a response that a guard's answer of nothing is trusted for. Guards'
 * parsers stop at their own limits (Rust's serde_json at 128 levels, the AssemblyScript SDK at
 * 512, Go's at 10,000) and then read no document: a guard that answers nothing for a text it
 * could not read labels the response by its resource alone. Every limit is above this one.
 */
export const MAX_READ_DEPTH = 100;

/**
 * Why a guard's labeling is not trusted for the result's JSON text, or undefined. A text nested
 * deeper than MAX_READ_DEPTH is past what guards read: an answer of nothing does not label it by
 * its resource, and beside structured content the guard may have read that instead (the SDKs take
 * it when the text is not a document they can read).
 */
export function pastGuardsRead(result: Result, labeling: ResponseLabeling): string | undefined {
  const structured = isObject(result.structuredContent);
  if ((labeling.kind !== 'whole' && !structured) || !deeperThanGuardsRead(result)) return undefined;
  const what = labeling.kind === 'whole' ? 'answered nothing for' : 'labeled';
  const why = structured ? 'it may have read the structured content beside it instead' : 'it is not labeled by its resource alone';
  return `${what} a response whose JSON text is nested deeper than ${MAX_READ_DEPTH} levels, past what guards read: ${why}`;
}

/** Whether the result's first text block is JSON nested deeper than MAX_READ_DEPTH. */
function deeperThanGuardsRead(result: Result): boolean {
  // Only a text that may be a document is scanned (a long plain text is not).
  const text = documentText(result);
  return text !== undefined && deeperThan(text, MAX_READ_DEPTH) && jsonText(result) !== undefined;
}

/** Whether JSON-like text nests arrays and objects deeper than `limit` (strings skipped; not a validation). */
function deeperThan(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0, n = text.length; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: to its closing quote, over escapes.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The first text block, when it starts with a JSON object or array: what may be the response's document. */
function documentText(result: Result): string | undefined {
  const first = Array.isArray(result.content) ? (result.content[0] as unknown) : undefined;
  if (!isObject(first) || first.type !== 'text' || typeof first.text !== 'string') return undefined;
  const t = first.text.trimStart();
  return t.startsWith('{') || t.startsWith('[') ? first.text : undefined;
}

/** The first text block, when it holds a JSON object or array: tools commonly answer that way. */
function jsonText(result: Result): { text: string; doc: unknown } | undefined {
  const text = documentText(result);
  if (text === undefined) return undefined;
  try {
    return { text, doc: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new ResponseShapeError(`"${pointer}" is not a JSON pointer (must start with "/")`);
  const segments = pointer.slice(1).split('/');
  return pointer.includes('~') ? segments.map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')) : segments;
}

/** An array index as RFC 6901 writes one: digits, no leading zero. */
function isIndex(seg: string): boolean {
  const n = seg.length;
  if (n === 0 || (n > 1 && seg.charCodeAt(0) === 48)) return false;
  for (let i = 0; i < n; i++) {
    const c = seg.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function resolvePointer(doc: unknown, segments: string[], pointer: string): unknown {
  let cur = doc;
  for (const seg of segments) {
    if (Array.isArray(cur) && isIndex(seg) && Number(seg) < cur.length) cur = cur[Number(seg)];
    else if (isObject(cur) && Object.hasOwn(cur, seg)) cur = cur[seg];
    else throw new ResponseShapeError(`pointer "${pointer}" does not exist in the response`);
  }
  return cur;
}

/**
 * A response split into labeled items, and a way to rebuild a valid MCP result from the items
 * that may pass. The result keeps its shape: JSON text stays JSON text, other keys stay put.
 */
export interface Split {
  items: LabeledItem[];
  /** The items are a collection's (an empty one is still an answer), not one document. */
  collection: boolean;
  /**
   * Whatever the labeled document leaves out (other content blocks, `_meta`, other keys): the
   * guard labeled only the document, so the rest carries the resource's labels.
   */
  rest?: LabeledItem;
  /** The result with the items kept, and the rest kept or dropped. */
  rebuild(keep: boolean[], keepRest?: boolean): Result;
}

/** Keys of a result that the labeled document stands for; every other key is the rest. */
const DOCUMENT_KEYS = new Set(['content', 'structuredContent', 'isError']);

export function split(result: Result, resourceLabels: Labels, labeling: ResponseLabeling): Split {
  if (labeling.kind === 'whole') {
    return { items: [{ labels: labeling.labels ?? resourceLabels }], collection: false, rebuild: () => result };
  }
  if (labeling.kind === 'paths') {
    const sliced = splitBySlicing(result, resourceLabels, labeling);
    if (sliced) return sliced;
  }
  const text = jsonText(result);
  const source: Source = text ? 'text' : isObject(result.structuredContent) ? 'structured' : 'raw';
  const doc = text ? text.doc : source === 'structured' ? result.structuredContent : result;
  const others = source === 'raw' ? [] : Object.keys(result).filter((k) => !DOCUMENT_KEYS.has(k));
  const blocks = source === 'text' ? (result.content as unknown[]).length - 1 : 0;
  const rest = others.length || blocks ? { labels: resourceLabels } : undefined;
  const write = (newDoc: unknown, keepRest = true) => {
    const out = writeBack(result, source, doc, newDoc, text?.text);
    return keepRest ? out : withoutRest(out, others);
  };

  if (labeling.kind === 'items') {
    const items = labeling.items;
    return {
      items: items.map((i) => ({ labels: i.labels })),
      collection: true,
      rest,
      rebuild: (keep, keepRest) => write(items.filter((_, i) => keep[i]).map((i) => i.data), keepRest),
    };
  }

  const fallback = labeling.defaultLabels ?? resourceLabels;
  const base = parsePointer(labeling.itemsPath ?? '');
  const collection = resolvePointer(doc, base, labeling.itemsPath ?? '');
  if (!Array.isArray(collection)) {
    if (labeling.itemsPath) throw new ResponseShapeError(`items_path "${labeling.itemsPath}" is not an array`);
    // No collection: the document is one item, labeled by a path at its root or by the default.
    const root = labeling.paths.filter((p) => p.path === '' || p.path === '/');
    return { items: [{ labels: root.length ? merge(root.map((p) => p.labels)) : fallback }], collection: false, rest, rebuild: (_, keepRest) => (keepRest === false ? write(doc, false) : result) };
  }
  // Each path names an item of the collection (or something inside one): it is checked from
  // there, the collection's own path once.
  const perItem: Labels[][] = collection.map(() => []);
  for (const p of labeling.paths) {
    const segs = parsePointer(p.path);
    const under = segs.length > base.length && base.every((s, i) => segs[i] === s);
    if (!under) throw new ResponseShapeError(`path "${p.path}" is not inside items_path "${labeling.itemsPath ?? ''}"`);
    resolvePointer(collection, segs.slice(base.length), p.path);
    perItem[Number(segs[base.length])]!.push(p.labels);
  }
  return {
    items: perItem.map((ls) => ({ labels: ls.length === 1 ? ls[0]! : ls.length ? merge(ls) : fallback })),
    collection: true,
    rest,
    rebuild: (keep, keepRest) => write(replaceAt(doc, base, collection.filter((_, i) => keep[i])), keepRest),
  };
}

/**
 * The common case of a collection labeled by paths, without parsing its document: a JSON text in
 * the first block, nothing structured beside it, and each path naming an item of the array at
 * items_path. The items are found in the text (src/difc/json-spans.ts) and the rebuilt text is
 * the kept items' text between the array's own brackets, as the server wrote them. Anything else
 * is undefined, and `split` reads the document as a tree.
 */
function splitBySlicing(result: Result, resourceLabels: Labels, labeling: Extract<ResponseLabeling, { kind: 'paths' }>): Split | undefined {
  if (labeling.itemsPath === undefined || 'structuredContent' in result) return undefined;
  const text = documentText(result);
  if (text === undefined) return undefined;
  let base: string[];
  let indexes: number[];
  try {
    base = parsePointer(labeling.itemsPath);
    indexes = labeling.paths.map((p) => {
      const segs = parsePointer(p.path);
      const index = segs[base.length];
      return segs.length === base.length + 1 && base.every((s, i) => segs[i] === s) && index !== undefined && isIndex(index) ? Number(index) : -1;
    });
  } catch {
    return undefined;
  }
  const spans = indexes.includes(-1) ? undefined : arraySpans(text, base);
  if (!spans || indexes.some((i) => i >= spans.starts.length)) return undefined;
  // Most items have no path of their own: they share one labeled item (no object an item).
  const byDefault = { labels: labeling.defaultLabels ?? resourceLabels };
  const labeled = new Map<number, Labels[]>();
  labeling.paths.forEach((p, at) => {
    const index = indexes[at]!;
    const ls = labeled.get(index);
    if (ls) ls.push(p.labels);
    else labeled.set(index, [p.labels]);
  });
  const items: LabeledItem[] = spans.starts.map(() => byDefault);
  for (const [index, ls] of labeled) items[index] = { labels: ls.length === 1 ? ls[0]! : merge(ls) };
  const others = Object.keys(result).filter((k) => !DOCUMENT_KEYS.has(k));
  const blocks = (result.content as unknown[]).length - 1;
  const { open, close, starts, ends } = spans;
  const rebuild = (keep: boolean[], keepRest = true): Result => {
    const kept: string[] = [];
    for (let i = 0; i < starts.length; i++) if (keep[i]) kept.push(text.slice(starts[i], ends[i]));
    // Between the brackets: the items as they were laid out (the first's indent, the separator
    // after it, the space before the closing bracket), or nothing when none is kept.
    const last = starts.length - 1;
    const inner = kept.length ? text.slice(open + 1, starts[0]) + kept.join(last > 0 ? text.slice(ends[0]!, starts[1]) : ',') + text.slice(ends[last]!, close) : '';
    const out = withText(result, text.slice(0, open + 1) + inner + text.slice(close));
    return keepRest ? out : withoutRest(out, others);
  };
  return { items, collection: true, rest: others.length || blocks ? { labels: resourceLabels } : undefined, rebuild };
}

/** `doc` with the value at `segs` replaced, copying only the containers on the way (not the items). */
function replaceAt(doc: unknown, segs: string[], value: unknown): unknown {
  if (!segs.length) return value;
  const [head, ...rest] = segs as [string, ...string[]];
  if (Array.isArray(doc)) return doc.map((v, i) => (i === Number(head) ? replaceAt(v, rest, value) : v));
  const obj = doc as Record<string, unknown>;
  // A computed key defines an own property, "__proto__" included.
  return { ...obj, [head]: replaceAt(obj[head], rest, value) };
}

/** Several labels on one item: the item is as secret as all of them and as trusted as the least. */
function merge(all: Labels[]): Labels {
  const secrecy = [...new Set(all.flatMap((l) => l.secrecy))].sort();
  const integrity = all.slice(1).reduce((acc, l) => acc.filter((t) => l.integrity.includes(t)), [...all[0]!.integrity]);
  return { secrecy, integrity: integrity.sort() };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function writeBack(result: Result, source: Source, oldDoc: unknown, newDoc: unknown, oldText?: string): Result {
  if (source === 'raw') return newDoc as Result;
  const serialised = JSON.stringify(newDoc, null, oldText?.includes('\n') ? 2 : undefined);
  if (source === 'text') {
    const out = withText(result, serialised);
    // structuredContent repeating the document is filtered with it; anything else cannot be vouched for.
    if ('structuredContent' in result) {
      if (sameJson(result.structuredContent, oldDoc) && isObject(newDoc)) out.structuredContent = newDoc;
      else delete out.structuredContent;
    }
    return out;
  }
  // The text blocks beside structured content usually repeat it: replace them with the filtered copy.
  return { ...result, structuredContent: newDoc, content: [{ type: 'text', text: serialised }] };
}

/** The result with the text of its first content block replaced. */
function withText(result: Result, text: string): Result {
  const content = [...(result.content as unknown[])];
  content[0] = { ...(content[0] as object), text };
  return { ...result, content };
}

/** The result without what its document leaves out (other keys, other content blocks). */
function withoutRest(out: Result, others: string[]): Result {
  for (const k of others) delete out[k];
  if (Array.isArray(out.content)) out.content = out.content.slice(0, 1);
  return out;
}
