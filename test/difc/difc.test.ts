import { describe, expect, it } from 'vitest';
import { decideAfter, decideBefore } from '../../src/difc/decide.ts';
import { AgentState, check } from '../../src/difc/evaluator.ts';
import { MAX_READ_DEPTH, type ResponseLabeling, ResponseShapeError, pastGuardsRead, split } from '../../src/difc/response.ts';

const L = (secrecy: string[] = [], integrity: string[] = []) => ({ secrecy, integrity });
const json = (doc: unknown) => ({ content: [{ type: 'text', text: JSON.stringify(doc) }] });
const docOf = (r: Record<string, unknown>) => JSON.parse((r.content as { text: string }[])[0]!.text) as unknown;

describe('flow rules', () => {
  it('read: resource secrecy must be within the agent secrecy', () => {
    expect(check(L(['private:a']), L(['private:a']), 'read')).toEqual([]);
    expect(check(L([]), L(['private:a']), 'read')).toEqual([{ rule: 'read-secrecy', tags: ['private:a'] }]);
  });
  it('read: resource integrity must cover the agent integrity', () => {
    expect(check(L([], ['maintainer']), L([], ['maintainer', 'contributor']), 'read')).toEqual([]);
    expect(check(L([], ['maintainer']), L([], []), 'read')).toEqual([{ rule: 'read-integrity', tags: ['maintainer'] }]);
  });
  it('write: agent secrecy must be within the resource secrecy', () => {
    expect(check(L(['private:a']), L([]), 'write')).toEqual([{ rule: 'write-secrecy', tags: ['private:a'] }]);
    expect(check(L(['private:a']), L(['private:a', 'x']), 'write')).toEqual([]);
  });
  it('write: agent integrity must cover the resource integrity', () => {
    expect(check(L([], ['contributor']), L([], ['maintainer']), 'write')).toEqual([{ rule: 'write-integrity', tags: ['maintainer'] }]);
    expect(check(L([], ['maintainer']), L([], ['maintainer']), 'write')).toEqual([]);
  });
  it('read-write checks both directions', () => {
    const v = check(L(['s'], ['i']), L([], []), 'read-write');
    expect(v.map((x) => x.rule)).toEqual(['read-integrity', 'write-secrecy']);
  });
  it('a `*` tag on the superset side matches anything, a `prefix*` tag its prefix', () => {
    expect(check(L(['private:a/b']), L(['*']), 'write')).toEqual([]);
    expect(check(L(['private:a/b', 'private:c/d']), L(['private:a/*']), 'write')).toEqual([{ rule: 'write-secrecy', tags: ['private:c/d'] }]);
    expect(check(L(['*']), L(['private:x']), 'read')).toEqual([]);
    // On the subset side `*` is a literal tag, not a wildcard.
    expect(check(L(['*']), L([]), 'write')).toEqual([{ rule: 'write-secrecy', tags: ['*'] }]);
  });
});

describe('modes before forwarding', () => {
  it('denies violating writes in every mode', () => {
    for (const mode of ['strict', 'filter', 'propagate'] as const) {
      expect(decideBefore(mode, L(['s']), L([]), 'write').deny).toBeTruthy();
    }
  });
  it('strict denies a violating read before it runs; filter and propagate let it run and look at the response', () => {
    expect(decideBefore('strict', L(), L(['s']), 'read').deny).toEqual([{ rule: 'read-secrecy', tags: ['s'] }]);
    expect(decideBefore('filter', L(), L(['s']), 'read')).toEqual({});
    expect(decideBefore('propagate', L(), L(['s']), 'read')).toEqual({});
  });
  it('filter denies a read-write call whose read half violates (it has side effects)', () => {
    expect(decideBefore('filter', L([], ['i']), L([], []), 'read-write').deny).toEqual([{ rule: 'read-integrity', tags: ['i'] }]);
  });
  it('an allowed write goes on to have its response decided', () => {
    expect(decideBefore('filter', L(), L(), 'write')).toEqual({});
  });
});

describe('responses', () => {
  const doc = { total: 3, items: [{ id: 0 }, { id: 1 }, { id: 2 }] };
  const paths = {
    kind: 'paths' as const,
    itemsPath: '/items',
    paths: [{ path: '/items/1', labels: L(['private:o/r']) }],
    defaultLabels: L(),
  };

  it('filter drops inaccessible items in place, keeps the shape and appends a notice', () => {
    const agent = new AgentState(L());
    const r = decideAfter('filter', agent, json(doc), split(json(doc), L(), paths), 'read');
    if (r.deny) throw new Error('denied');
    expect(r.withheld).toBe(1);
    expect(docOf(r.result)).toEqual({ total: 3, items: [{ id: 0 }, { id: 2 }] });
    const content = r.result.content as { text: string }[];
    expect(content[1]?.text).toBe(
      '[mcpg] 1 of 3 items withheld by information-flow policy: the resource carries secrecy tags the agent is not cleared for: 1 secrecy tag(s) not shown',
    );
    expect(r.result._meta).toEqual({ 'mcpg/withheld': { count: 1, total: 3 } });
  });

  it('filter: a collection with every item withheld comes back empty with the notice; a single document is denied', () => {
    const all = { ...paths, paths: [0, 1, 2].map((i) => ({ path: `/items/${i}`, labels: L(['private:o/r']) })) };
    const r = decideAfter('filter', new AgentState(L()), json(doc), split(json(doc), L(), all), 'read');
    if (r.deny) throw new Error('denied');
    expect(docOf(r.result)).toEqual({ total: 3, items: [] });
    expect((r.result.content as { text: string }[])[1]?.text).toMatch(/^\[mcpg\] 3 of 3 items withheld/);
    const one = decideAfter('filter', new AgentState(L()), json({ id: 1 }), split(json({ id: 1 }), L(['private:o/r']), { kind: 'whole' }), 'read');
    expect(one.deny).toEqual([{ rule: 'read-secrecy', tags: ['private:o/r'] }]);
  });

  it('strict denies the whole call when any item would be withheld', () => {
    const r = decideAfter('strict', new AgentState(L()), json(doc), split(json(doc), L(), paths), 'read');
    expect(r.deny).toEqual([{ rule: 'read-secrecy', tags: ['private:o/r'] }]);
  });

  it('propagate passes everything and taints the agent', () => {
    const agent = new AgentState(L([], ['approved', 'x']));
    const labeling = { ...paths, defaultLabels: L([], ['approved']) };
    const r = decideAfter('propagate', agent, json(doc), split(json(doc), L(), labeling), 'read');
    if (r.deny) throw new Error('denied');
    expect(docOf(r.result)).toEqual(doc);
    expect(agent.labels).toEqual(L(['private:o/r'], []));
  });

  it('items: rebuilds the result from the accessible items', () => {
    const items = { kind: 'items' as const, items: [{ data: { n: 'pub' }, labels: L() }, { data: { n: 'sec' }, labels: L(['s']) }] };
    const original = json([{ n: 'pub' }, { n: 'sec' }]);
    const r = decideAfter('filter', new AgentState(L()), original, split(original, L(), items), 'read');
    if (r.deny) throw new Error('denied');
    expect(docOf(r.result)).toEqual([{ n: 'pub' }]);
  });

  it('whole: the resource labels cover the response, and filter mode denies when nothing may pass', () => {
    const r = decideAfter('filter', new AgentState(L()), json(doc), split(json(doc), L(['s']), { kind: 'whole' }), 'read');
    expect(r.deny).toEqual([{ rule: 'read-secrecy', tags: ['s'] }]);
  });

  it('filters structuredContent with the text it repeats', () => {
    const res = { ...json(doc), structuredContent: doc };
    const r = decideAfter('filter', new AgentState(L()), res, split(res, L(), paths), 'read');
    if (r.deny) throw new Error('denied');
    expect(r.result.structuredContent).toEqual({ total: 3, items: [{ id: 0 }, { id: 2 }] });
  });

  it('filters a structured-only result and a raw result (resources/read)', () => {
    const structured = { content: [{ type: 'text', text: 'summary that repeats data' }], structuredContent: doc };
    const r1 = decideAfter('filter', new AgentState(L()), structured, split(structured, L(), paths), 'read');
    if (r1.deny) throw new Error('denied');
    expect(r1.result.structuredContent).toEqual({ total: 3, items: [{ id: 0 }, { id: 2 }] });
    expect(JSON.stringify(r1.result.content)).not.toContain('summary that repeats data');
    const raw = { contents: [{ uri: 'a', text: '1' }, { uri: 'b', text: '2' }] };
    const r2 = decideAfter(
      'filter',
      new AgentState(L()),
      raw,
      split(raw, L(), { kind: 'paths', itemsPath: '/contents', paths: [{ path: '/contents/0', labels: L(['s']) }] }),
      'read',
    );
    if (r2.deny) throw new Error('denied');
    expect(r2.result.contents).toEqual([{ uri: 'b', text: '2' }]);
  });

  it('keeps pretty-printed JSON text pretty', () => {
    const pretty = { content: [{ type: 'text', text: JSON.stringify(doc, null, 2) }] };
    const r = decideAfter('filter', new AgentState(L()), pretty, split(pretty, L(), paths), 'read');
    if (r.deny) throw new Error('denied');
    expect((r.result.content as { text: string }[])[0]!.text).toBe(JSON.stringify({ total: 3, items: [{ id: 0 }, { id: 2 }] }, null, 2));
  });

  it('a deeper path labels its item; several labels on one item combine to the strictest', () => {
    const labeling = {
      kind: 'paths' as const,
      itemsPath: '/items',
      paths: [
        { path: '/items/0/title', labels: L(['a'], ['i', 'j']) },
        { path: '/items/0', labels: L(['b'], ['i']) },
      ],
    };
    const titled = json({ items: [{ id: 0, title: 't' }] });
    expect(split(titled, L(), labeling).items[0]!.labels).toEqual(L(['a', 'b'], ['i']));
  });

  it('rejects malformed pointers and paths outside the items', () => {
    const bad = (p: string, itemsPath = '/items') => () => split(json(doc), L(), { kind: 'paths', itemsPath, paths: [{ path: p, labels: L() }] });
    expect(bad('items/0')).toThrow(ResponseShapeError);
    expect(bad('/items/7')).toThrow(/does not exist/);
    expect(bad('/total')).toThrow(/not inside items_path/);
    expect(bad('/items/0', '/total')).toThrow(/is not an array/);
    // An index is digits without a leading zero; an escaped key is read as RFC 6901 writes it.
    expect(bad('/items/01')).toThrow(/does not exist/);
    expect(bad('/items/-1')).toThrow(/does not exist/);
    const odd = json({ items: [{ 'a/b': 1, 'c~d': 2 }] });
    const at = (p: string) => split(odd, L(), { kind: 'paths', itemsPath: '/items', paths: [{ path: p, labels: L(['s']) }] }).items[0]!.labels;
    expect(at('/items/0/a~1b')).toEqual(L(['s']));
    expect(at('/items/0/c~0d')).toEqual(L(['s']));
    expect(() => at('/items/0/a/b')).toThrow(/does not exist/);
  });
});

describe('a response too deep for guards to read', () => {
  const text = (t: string) => ({ content: [{ type: 'text', text: t }] });
  const nested = (levels: number) => `{"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
  const whole = { kind: 'whole' } as const;
  const deep = (result: Record<string, unknown>) => pastGuardsRead(result, whole) !== undefined;
  it(`is a JSON text nested deeper than ${MAX_READ_DEPTH} levels, counted outside strings, in the first text block`, () => {
    expect(deep(text(nested(MAX_READ_DEPTH)))).toBe(false);
    expect(deep(text(nested(MAX_READ_DEPTH + 1)))).toBe(true);
    expect(deep(text(` \n${nested(MAX_READ_DEPTH + 1)}`))).toBe(true);
    // Brackets inside strings (escaped quotes too) are text, not nesting.
    expect(deep(text(JSON.stringify({ s: `\\"${'['.repeat(500)}` })))).toBe(false);
    // Not JSON: delivered as the text it is, which no guard reads as a document either.
    expect(deep(text(`${'['.repeat(500)} not JSON`))).toBe(false);
    expect(deep({ content: [{ type: 'text', text: 'plain' }, { type: 'text', text: nested(500) }] })).toBe(false);
    expect(deep({ structuredContent: JSON.parse(nested(500)) as object })).toBe(false);
  });

  it('is not trusted labeled by paths either beside structured content, which the guard may have read instead', () => {
    const paths: ResponseLabeling = { kind: 'paths', paths: [{ path: '/a', labels: L([]) }] };
    const structuredContent = { items: [] };
    expect(pastGuardsRead(text(nested(MAX_READ_DEPTH + 1)), paths)).toBeUndefined();
    expect(pastGuardsRead({ ...text(nested(MAX_READ_DEPTH + 1)), structuredContent }, paths)).toMatch(/labeled a response whose JSON text is nested deeper than 100 levels, past what guards read: it may have read the structured content beside it instead/);
    expect(pastGuardsRead({ ...text(nested(MAX_READ_DEPTH)), structuredContent }, paths)).toBeUndefined();
    expect(pastGuardsRead(text(nested(MAX_READ_DEPTH + 1)), whole)).toMatch(/answered nothing for .*: it is not labeled by its resource alone/);
  });
});
