// The AssemblyScript SDK's JSON, through a test guard built from source
// (test/fixtures/guards/as-json): parsed strings are read from their bytes only when a guard asks
// (escapes, non-ASCII, surrogate pairs) and written back as those bytes; integers are read without
// a string; a tool result's text is parsed as JSON from its bytes; and a guard's garbage is
// collected, so many calls and large ones (inputs, the guard's backend's answers, its own
// allocations) stay under the memory cap.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGuard } from '../../scripts/build-guards.mjs';
import { limitsSchema } from '../../src/config/schema.ts';
import type { BackendCall } from '../../src/guard/guard.ts';
import { configureLog } from '../../src/shared/log.ts';
import { WasmGuard, compileGuard } from '../../src/guard/wasm-guard.ts';
import { ROOT } from '../helpers/mcpg.ts';

let GUARD: string;
beforeAll(async () => {
  GUARD = await buildGuard('as-json', join(ROOT, 'test/fixtures/guards/as-json'), 'assemblyscript');
}, 120_000);

const backend = async () => ({ content: [] });
async function guard(limits: object = {}): Promise<WasmGuard> {
  const l = limitsSchema.parse({ instances: 1, ...limits });
  const g = new WasmGuard('as-json', await compileGuard('as-json', readFileSync(GUARD), l), l);
  await g.labelAgent({}, backend);
  return g;
}
const text = (t: string) => ({ content: [{ type: 'text', text: t }] });
const echoed = async (g: WasmGuard, tool: string, args: Record<string, unknown>, result: unknown = {}, calls: BackendCall = backend) => {
  const r = await g.labelResponse(tool, args, result, calls);
  if (r.kind !== 'items') throw new Error(`labeled ${r.kind}`);
  return r.items[0]!.data;
};

const STRINGS = ['plain', 'long "quoted" \\ and \n '.repeat(300), 'quote " backslash \\ slash /', 'lines\nand\ttabs\r\u0001\u001f', 'caf\u00e9 \u20ac', 'pair \ud83d\ude00 end', '', 'x'.repeat(5000),
  // A quote or a backslash at every offset of the eight bytes the parser scans at once, beside non-ASCII bytes.
  ...Array.from({ length: 18 }, (_, k) => `${'a'.repeat(k)}${k % 2 ? '"' : '\\'}${'\u20ac'.repeat(k % 3)}${'b'.repeat(17 - k)}`),
  ...Array.from({ length: 9 }, (_, k) => 'c'.repeat(k)),
];

describe('AssemblyScript SDK JSON (a test guard built from source)', () => {
  it('reads parsed strings as the host sent them, escaped or not', async () => {
    const g = await guard();
    const args = Object.fromEntries(STRINGS.map((s, i) => [`s${i}`, s]));
    const r = await g.labelResource('read', args, backend);
    expect(r.resource.description).toBe(STRINGS.join('|'));
  });

  it("sends the host what it writes as it was: a log line, a backend call's tool and arguments", async () => {
    const g = await guard();
    const lines: string[] = [];
    configureLog({ level: 'debug', writer: (line) => lines.push(line) });
    try {
      await g.labelResource('read', { a: 'caf\u00e9 "q"', b: 'x'.repeat(3000) }, backend);
    } finally {
      configureLog({ level: 'info' });
    }
    expect(lines.some((l) => l.includes(`read: caf\u00e9 "q"|${'x'.repeat(3000)}`))).toBe(true);
    const args = { q: 'repo:o/r \u20ac', nested: { list: [1, 'two', null] }, long: 'y'.repeat(70_000) };
    const asked: [string, unknown][] = [];
    const answering = async (tool: string, a: Record<string, unknown>) => {
      asked.push([tool, a]);
      return text('{"ok":true}');
    };
    for (let i = 0; i < 2; i++) expect(await echoed(g, 'backend', args, {}, answering)).toEqual({ ok: true });
    expect(asked).toEqual([['fetch', args], ['fetch', args]]);
  });

  it('gives parsed values back as they came: strings, integers, other numbers, nesting', async () => {
    const g = await guard();
    const args = {
      strings: STRINGS,
      ints: [0, 7, -42, 123456789012345, -999999999999999, 9007199254740991],
      numbers: [0.5, -1.25e-7, 1e21, 12345678901234567890],
      nested: { a: [{ b: [true, false, null] }], 'k\u00e9y "q"': 'v' },
    };
    expect(await echoed(g, 'args', args)).toEqual(args);
  });

  it("parses a tool result's text as JSON from its bytes, escapes and all", async () => {
    const g = await guard();
    const doc = { items: STRINGS.map((s, i) => ({ id: i, name: s })) };
    expect(await echoed(g, 'json', {}, text(JSON.stringify(doc)))).toEqual(doc);
  });

  it('reads a text as a document exactly when JSON.parse does: numbers and strings as JSON writes them, and nothing else', async () => {
    const g = await guard();
    // What JSON.parse (and Go's and Rust's parsers) refuse: a raw control character in a string,
    // numbers JSON does not write. The gateway reads such a text as no document, so must the guard.
    const refused = ['{"note":"a\tb"}', '{"list":["x\u0002"]}', '{"k\u0001":1}', '[01]', '[-01]', '[1.]', '[.5]', '[+1]', '[-]', '[1e]', '[1.5e+]', '[0x10]', '[00]'];
    const valid = ['[0.5e-3]', '[1E+2]', '[-1.25e-7]', '[12345678901234567890]', '[0, 10, 100]', '{"x\\u0001 \\t":"\\u001f\u007f"}'];
    for (const t of refused) {
      expect(() => JSON.parse(t)).toThrow();
      expect(await g.labelResponse('json', {}, text(t), backend), t).toEqual({ kind: 'whole' });
    }
    for (const t of valid) expect(await echoed(g, 'json', {}, text(t)), t).toEqual(JSON.parse(t));
  });

  it('parses each text afresh after one that was not JSON: too deep, or broken off inside arrays and objects', async () => {
    const g = await guard();
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    for (const bad of [deep(600), '{"a":[1,{"b":[2,{"c":', '{"a":[1,2}', '{"k" 1}']) {
      // No items: an answer of nothing, which the gateway refuses for JSON past 100 levels.
      const labeled = await g.labelResponse('json', {}, text(bad), backend).then((l) => l.kind, (err: Error) => err.message);
      expect(labeled).not.toBe('items');
    }
    // As deep as the parser goes (512 levels), and nested objects and arrays with members.
    expect(await echoed(g, 'json', {}, text(deep(512)))).toEqual(JSON.parse(deep(512)));
    const doc = { a: [1, { b: [2, { c: 'd' }], e: {} }], f: { g: [[], [3]] } };
    expect(await echoed(g, 'json', {}, text(JSON.stringify(doc)))).toEqual(doc);
  });

  it('collects what calls leave behind: thousands of calls and large ones, under a small memory cap', async () => {
    const g = await guard({ memory_mib: 16 });
    const args = { list: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `name ${i}`, text: 'y'.repeat(40) })) };
    for (let i = 0; i < 2000; i++) expect(await echoed(g, 'args', args)).toEqual(args);
    // Small calls leave garbage behind, then large ones need room: each is made.
    const big = await guard({ fuel: 3_000_000_000, memory_mib: 24 });
    const list = (n: number) => ({ items: Array.from({ length: n }, (_, i) => ({ full_name: `o/r${i}`, description: 'z'.repeat(80) })) });
    const [small, large] = [list(80), list(8000)];
    for (let i = 0; i < 600; i++) expect(await echoed(big, 'json', {}, text(JSON.stringify(small)))).toEqual(small);
    for (let i = 0; i < 10; i++) expect(await echoed(big, 'json', {}, text(JSON.stringify(large)))).toEqual(large);
    // Large answers of the guard's own backend, to calls with small inputs.
    const fetching = await guard({ fuel: 3_000_000_000, memory_mib: 24 });
    const answers = async () => text(JSON.stringify(large));
    for (let i = 0; i < 10; i++) {
      const r = await fetching.labelResponse('backend', {}, {}, answers);
      expect(r.kind === 'items' && r.items[0]!.data).toEqual(large);
    }
    // Garbage made without parsing anything much.
    const allocating = await guard({ fuel: 3_000_000_000, memory_mib: 24 });
    for (let i = 0; i < 30; i++) expect(await allocating.labelResponse('alloc', {}, {}, backend)).toEqual({ kind: 'whole' });
  }, 120_000);
});
