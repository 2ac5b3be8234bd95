import { describe, expect, it } from 'vitest';
import { decideAfter } from '../../src/difc/decide.ts';
import { AgentState } from '../../src/difc/evaluator.ts';
import { arraySpans } from '../../src/difc/json-spans.ts';
import type { Labels } from '../../src/difc/labels.ts';
import { split } from '../../src/difc/response.ts';

const L = (secrecy: string[] = [], integrity: string[] = []): Labels => ({ secrecy, integrity });

/** A small deterministic generator (xorshift), so a failure repeats. */
function random(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

// Strings that look like structure: quotes, escapes, brackets, commas, separators, non-ASCII.
const TRICKY = ['', 'a"b', 'back\\slash', '[1,2]', '{"x":1}', ',', ']', '}', '\u2028\u2029', 'é中🎉', '\ud800', 'tab\there', 'nl\nx', '\\u0041', '/', '\u0000'];

function value(r: ReturnType<typeof random>, depth: number): unknown {
  const k = r.int(depth > 3 ? 5 : 7);
  if (k === 0) return r.pick(TRICKY) + String(r.int(100));
  if (k === 1) return r.pick([0, -1, 1.5, -0.25, 1e21, 123456789, 2.5e-7]);
  if (k === 2) return r.pick([true, false, null]);
  if (k === 3) return r.pick(TRICKY);
  if (k === 4) return r.int(1000);
  if (k === 5) return Array.from({ length: r.int(4) }, () => value(r, depth + 1));
  return Object.fromEntries(Array.from({ length: r.int(4) }, (_, i) => [`${r.pick(TRICKY)}${i}`, value(r, depth + 1)]));
}

/** JSON text with whitespace of every kind JSON allows between tokens. */
function spaced(v: unknown, r: ReturnType<typeof random>): string {
  const ws = () => r.pick(['', '', ' ', '\n  ', '\t', '\r\n', '  \n\t ']);
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => `${spaced(x, r)}${ws()}`).join(`,${ws()}`)}]`;
  if (v !== null && typeof v === 'object') return `{${ws()}${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${spaced(x, r)}${ws()}`).join(`,${ws()}`)}}`;
  return JSON.stringify(v);
}

describe('a collection filtered by slicing its JSON text', () => {
  it('gives the agent exactly the document parsed, with the withheld items left out, however the text is laid out', () => {
    const r = random(26);
    for (let round = 0; round < 300; round++) {
      const items = Array.from({ length: r.int(12) }, () => value(r, 1));
      const where = r.pick([['items'], ['data', 'list'], ['a"b', '0']] as const);
      const doc: Record<string, unknown> = { before: value(r, 2), after: value(r, 2) };
      if (where.length === 1) doc.items = items;
      else if (where[0] === 'data') doc.data = { n: items.length, list: items };
      else doc['a"b'] = [items];
      const text = r.pick([() => JSON.stringify(doc), () => JSON.stringify(doc, null, 2), () => spaced(doc, r)])();
      const itemsPath = `/${where.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
      const secret = items.map(() => r.next() < 0.3);
      const labeling = {
        kind: 'paths' as const,
        itemsPath,
        paths: secret.flatMap((s, i) => (s ? [{ path: `${itemsPath}/${i}`, labels: L(['private']) }] : [])),
        defaultLabels: L(),
      };
      // Read by slicing, not left to the parser: the path to the items is found in the text.
      expect(arraySpans(text, where)?.starts.length).toBe(items.length);
      const result = { content: [{ type: 'text', text }] };
      const decided = decideAfter('filter', new AgentState(L()), result, split(result, L(), labeling), 'read');
      if (decided.deny) throw new Error('denied');
      const expected = JSON.parse(text) as Record<string, unknown>;
      const kept = items.filter((_, i) => !secret[i]);
      if (where.length === 1) expected.items = kept;
      else if (where[0] === 'data') (expected.data as Record<string, unknown>).list = kept;
      else expected['a"b'] = [kept];
      const given = (decided.result.content as { text: string }[])[0]!.text;
      expect(JSON.parse(given), `round ${round}: ${text.slice(0, 200)}`).toEqual(expected);
      expect(decided.withheld).toBe(secret.filter(Boolean).length);
    }
  });

  it('reads as valid exactly the texts JSON.parse reads, whatever is changed in them', () => {
    const r = random(7);
    const significant = ['"', '\\', '[', ']', '{', '}', ',', ':', ' ', '0', '-', '.', 'e', 'u', 't', 'n', '\u0001', '\u00a0', 'x'];
    let checked = 0;
    for (let round = 0; round < 3000; round++) {
      let text = spaced([value(r, 1), value(r, 1)], r);
      const at = r.int(text.length + 1);
      const change = r.int(3);
      if (change === 0) text = text.slice(0, at) + text.slice(at + 1);
      else if (change === 1) text = text.slice(0, at) + r.pick(significant) + text.slice(at);
      else text = text.slice(0, at) + r.pick(significant) + text.slice(at + 1);
      let parsed: unknown;
      let valid = true;
      try {
        parsed = JSON.parse(text);
      } catch {
        valid = false;
      }
      const spans = arraySpans(text, []);
      expect(spans !== undefined, `${JSON.stringify(text)}`).toBe(valid && Array.isArray(parsed));
      if (spans && Array.isArray(parsed)) {
        expect(spans.starts.map((s, k) => JSON.parse(text.slice(s, spans.ends[k])) as unknown)).toEqual(parsed);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('leaves to the parser a key given twice on the way, nesting past its depth, and an array not where the pointer says', () => {
    expect(arraySpans('{"items":[1],"items":[2,3]}', ['items'])).toBeUndefined();
    expect(arraySpans(`{"items":[${'['.repeat(300)}${']'.repeat(300)}]}`, ['items'])).toBeUndefined();
    expect(arraySpans('{"items":{"0":1}}', ['items'])).toBeUndefined();
    expect(arraySpans('{"it\\u0065ms":[1, 2]}', ['items'])).toMatchObject({ starts: [15, 18], ends: [16, 19] });
    // The parser then decides as before: the last of two keys is the document's.
    const result = { content: [{ type: 'text', text: '{"items":[1],"items":[2,3]}' }] };
    const labeling = { kind: 'paths' as const, itemsPath: '/items', paths: [{ path: '/items/1', labels: L(['s']) }] };
    const r = decideAfter('filter', new AgentState(L()), result, split(result, L(), labeling), 'read');
    if (r.deny) throw new Error('denied');
    expect(JSON.parse((r.result.content as { text: string }[])[0]!.text)).toEqual({ items: [2] });
  });
});
