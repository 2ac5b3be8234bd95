import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitsSchema } from '../../src/config/schema.ts';
import { type ResponseLabeling, split } from '../../src/difc/response.ts';
import { WasmGuard, compileGuard } from '../../src/guard/wasm-guard.ts';
import { configureLog } from '../../src/shared/log.ts';
import { ROOT, type Session, fixtureServer, readDecisions, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

// The same behaviour from the AssemblyScript guard and its Go and Rust twins, all built from source.
for (const [language, file] of [
  ['AssemblyScript', 'repo-visibility.wasm'],
  ['Go', 'repo-visibility-go.wasm'],
  ['Rust', 'repo-visibility-rust.wasm'],
] as const) {
const GUARD = join(ROOT, 'dist/guards', file);

async function gateway(mode: string, policy: object, extra: object = {}): Promise<Session & { audit: string }> {
  const dir = tempDir();
  const audit = join(dir, 'audit.jsonl');
  const config = writeConfig(dir, {
    gateway: { mode },
    mcpServers: { github: { ...{ command: process.execPath, args: [join(ROOT, 'examples/servers/github-demo.ts')] }, guard: 'repo' }, ...extra },
    guards: {
      repo: { path: GUARD, policy: { 'allow-only': policy } },
      sink: { builtin: 'write-sink', policy: { accept: [] } },
    },
  });
  return Object.assign(await startGateway(config, ['--audit-log', audit]), { audit });
}

/** The guard in process, told a public-only policy, with a backend that finds nothing. */
async function publicGuard() {
  const limits = limitsSchema.parse({});
  const guard = new WasmGuard(file, await compileGuard(file, readFileSync(GUARD), limits), limits);
  const backend = async () => ({ content: [{ type: 'text', text: '{"items":[]}' }] });
  await guard.labelAgent({ 'allow-only': { repos: 'public', 'min-integrity': 'none' } }, backend);
  return { guard, backend };
}

/**
 * Each item's secrecy as the gateway reads the guard's answer: by the item's own path, or the
 * default labels (a "resource" tag marks an item labeled by neither).
 */
function itemSecrecy(result: Record<string, unknown>, labeling: ResponseLabeling): string[][] {
  if (labeling.kind !== 'paths') throw new Error(`labeled ${labeling.kind}`);
  return split(result, { secrecy: ['resource'], integrity: [] }, labeling).items.map((i) => i.labels.secrecy);
}

const issues = (r: { text: string }) => (JSON.parse(r.text.split('\n')[0]!) as { title: string }[]).map((i) => i.title);

describe(`repo-visibility guard (${language}, built from source) through mcpg run`, () => {
  it('filter: public data reads; a private repository is denied; a mixed search is filtered', async () => {
    const gw = await gateway('filter', { repos: 'public', 'min-integrity': 'none' });
    try {
      expect(issues(await gw.call('github___list_issues', { owner: 'octo', repo: 'public' }))).toEqual(['public bug', 'drive-by report']);
      // A list from a private repository: every item withheld, the empty list and a notice (gh-aw-mcpg's answer).
      const secret = await gw.call('github___list_issues', { owner: 'octo', repo: 'secret' });
      expect(secret.isError).toBeFalsy();
      expect(issues(secret)).toEqual([]);
      expect(secret.text).toMatch(/\[mcpg\] 1 of 1 items withheld by information-flow policy/);
      expect(secret.text).not.toContain('secret roadmap');
      // One document from it: denied.
      const one = await gw.call('github___get_issue', { owner: 'octo', repo: 'secret', issue_number: 7 });
      expect(one.isError).toBe(true);
      expect(one.text).toMatch(/server "github".*private:octo\/secret.*Agent labels: secrecy \[\], integrity \[\]/);
      const search = await gw.call('github___search_repositories', { query: 'user:octo' });
      expect(search.isError).toBeFalsy();
      expect(JSON.parse(search.text.split('\n')[0]!)).toMatchObject({ items: [{ full_name: 'octo/public' }] });
      expect(search.text).toMatch(/1 of 2 items withheld/);
      expect(search.text).not.toContain('octo/secret');
      // The guard asked the backend about visibility; the audit log shows it, once per repository.
      const lines = readDecisions(gw.audit);
      expect(lines[0]).toMatchObject({ tool: 'list_issues', decision: 'allow', backend_calls: [{ tool: 'search_repositories', ok: true }] });
      expect(lines[1]).toMatchObject({ tool: 'list_issues', decision: 'filter', resource: { secrecy: ['private:octo/secret'] }, items: { total: 1, withheld: 1 } });
      expect(lines[2]).toMatchObject({ tool: 'get_issue', decision: 'deny', resource: { secrecy: ['private:octo/secret'] } });
      expect(lines[3]).toMatchObject({ tool: 'search_repositories', decision: 'filter', items: { total: 2, withheld: 1 } });
    } finally {
      await gw.close();
    }
  });

  it('strict: a read that would withhold anything is denied, before or after the backend', async () => {
    const gw = await gateway('strict', { repos: 'public', 'min-integrity': 'none' });
    try {
      expect((await gw.call('github___list_issues', { owner: 'octo', repo: 'public' })).isError).toBeFalsy();
      expect((await gw.call('github___list_issues', { owner: 'octo', repo: 'secret' })).isError).toBe(true);
      const search = await gw.call('github___search_repositories', { query: 'user:octo' });
      expect(search.isError).toBe(true);
      // The agent asked for a search, not for octo/secret: the tags of what it was not given stay hidden.
      expect(search.text).not.toMatch(/octo\/secret/);
      expect(search.text).toMatch(/1 secrecy tag\(s\) not shown/);
    } finally {
      await gw.close();
    }
  });

  it('filter with min-integrity: low-integrity items are withheld, writes need contributor', async () => {
    const gw = await gateway('filter', { repos: 'public', 'min-integrity': 'approved' });
    try {
      const r = await gw.call('github___list_issues', { owner: 'octo', repo: 'public' });
      expect(issues(r)).toEqual(['public bug']);
      expect(r.text).toMatch(/lacks integrity tags the agent requires: contributor/);
      const created = await gw.call('github___create_issue', { owner: 'octo', repo: 'public', title: 'new' });
      expect(created.isError).toBeFalsy();
      const merge = await gw.call('github___merge_pull_request', { owner: 'octo', repo: 'public', pullNumber: 1 });
      expect(merge.isError).toBe(true);
      expect(merge.text).toMatch(/denied read-write of "merge_pull_request".*maintainer/);
    } finally {
      await gw.close();
    }
  });

  it('propagate: reading private data taints the agent, and a public sink then refuses its writes', async () => {
    const gw = await gateway(
      'propagate',
      { repos: 'public', 'min-integrity': 'none' },
      { out: { ...fixtureServer('tools.ts', 'out'), guard: 'sink' } },
    );
    try {
      expect((await gw.call('out___echo', { text: 'before' })).text).toBe('out: before');
      const secret = await gw.call('github___list_issues', { owner: 'octo', repo: 'secret' });
      expect(issues(secret)).toEqual(['secret roadmap']);
      const leak = await gw.call('out___echo', { text: 'secret roadmap' });
      expect(leak.isError).toBe(true);
      expect(leak.text).toMatch(/agent carries secrecy tags the resource does not accept: private:octo\/secret/);
      const lines = readDecisions(gw.audit);
      const read = lines.find((l) => l.tool === 'list_issues');
      expect(read).toMatchObject({ agent_before: { secrecy: [] }, agent_after: { secrecy: ['private:octo/secret'] } });
    } finally {
      await gw.close();
    }
  });

  it('repos = "all" clears the agent for private repositories', async () => {
    const gw = await gateway('filter', { repos: 'all', 'min-integrity': 'none' });
    try {
      expect(issues(await gw.call('github___list_issues', { owner: 'octo', repo: 'secret' }))).toEqual(['secret roadmap']);
    } finally {
      await gw.close();
    }
  });

  it('remembers at most 1,000 repositories: a long-lived instance does not grow toward its memory cap', async () => {
    const limits = limitsSchema.parse({});
    const guard = new WasmGuard(file, await compileGuard(file, readFileSync(GUARD), limits), limits);
    const asked: string[] = [];
    const backend = async (_tool: string, args: Record<string, unknown>) => {
      asked.push(String(args.query));
      return { content: [{ type: 'text', text: '{"items":[]}' }] };
    };
    const label = (repo: string) => guard.labelResource('list_issues', { owner: 'o', repo }, backend);
    await guard.labelAgent({ 'allow-only': { repos: 'all', 'min-integrity': 'none' } }, backend);
    await label('r0');
    await label('r0');
    expect(asked.filter((q) => q === 'repo:o/r0')).toHaveLength(1);
    for (let i = 1; i <= 1000; i++) await label(`r${i}`);
    await label('r0');
    expect(asked.filter((q) => q === 'repo:o/r0')).toHaveLength(2);
  });

  it('reads each item by its own keys, among keys that look alike and many others (the AssemblyScript SDK keeps the keys it has seen)', async () => {
    const { guard, backend } = await publicGuard();
    // Decoys: keys as long as "private" and "full_name" that land in the same slot of the
    // AssemblyScript SDK's table of keys (its hash, below) and differ by a byte or two; a
    // non-ASCII one; 300 others (more than the table holds); in varying order.
    const slot = (key: string) => {
      let h = key.length;
      for (const b of Buffer.from(key)) h = Math.imul(h ^ b, 16777619) >>> 0;
      return h & 127;
    };
    const twin = (key: string) => {
      const chars = 'abcdefghijklmnopqrstuvwxyz';
      for (const a of chars) for (const b of chars) {
        const k = `${key.slice(0, -2)}${a}${b}`;
        if (k !== key && slot(k) === slot(key)) return k;
      }
      throw new Error(`no twin for ${key}`);
    };
    const [privateTwin, nameTwin] = [twin('private'), twin('full_name')];
    const items = Array.from({ length: 60 }, (_, i) => {
      const filler = Object.fromEntries(Array.from({ length: 5 }, (_, j) => [`k${(i * 5 + j) % 300}`, j]));
      const own = { full_name: `o/r${i}`, private: i % 3 === 0 };
      const decoy = { [nameTwin]: `o/decoy${i}`, [privateTwin]: i % 3 !== 0, 'privat\u00e9': i % 3 !== 0 };
      return i % 2 ? { ...decoy, ...filler, ...own } : { ...own, ...filler, ...decoy };
    });
    const result = { content: [{ type: 'text', text: JSON.stringify({ items }) }] };
    const labeling = await guard.labelResponse('search_repositories', {}, result, backend);
    expect(itemSecrecy(result, labeling)).toEqual(items.map((_, i) => (i % 3 === 0 ? [`private:o/r${i}`] : [])));
  });

  it('reads a document whose keys repeat as the gateway does, by the last of each: what it labels is what the agent would get', async () => {
    const { guard, backend } = await publicGuard();
    // Written by a backend that means harm: a public decoy first, then what the gateway parses
    // (JSON.parse keeps the last of a repeated key) and would deliver under the decoy's labels.
    const text =
      '{"items":[{"full_name":"o/decoy","private":false},{"full_name":"o/decoy2","private":false}],' +
      '"items":[{"full_name":"o/public","private":false,"private":true},{"full_name":"o/decoy3","full_name":"o/secret","private":true},' +
      // A key written with escapes is the same key; one in other letter case is another key.
      '{"full_name":"o/decoy4","private":false,"full_n\\u0061me":"o/escaped","priv\\u0061te":true},' +
      '{"full_name":"o/cased","private":true,"PRIVATE":false,"Full_Name":"o/decoy5"}],' +
      '"ITEMS":[{"full_name":"o/decoy6","private":false},{"full_name":"o/decoy7","private":false},{"full_name":"o/decoy8","private":false},{"full_name":"o/decoy9","private":false}]}';
    const delivered = (JSON.parse(text) as { items: { full_name: string; private: boolean }[] }).items;
    const logged: string[] = [];
    configureLog({ level: 'error', writer: (line) => logged.push(line) });
    const result = { content: [{ type: 'text', text }] };
    const labeled = await guard
      .labelResponse('search_repositories', {}, result, backend)
      .then(
        (l) => itemSecrecy(result, l),
        (err: Error) => err.message,
      )
      .finally(() => configureLog({ level: 'info' }));
    if (language === 'Go') {
      // encoding/json matches names ignoring case: keys that differ only in case are refused.
      expect(labeled).toMatch(/label_response returned error code -1/);
      expect(logged.join('\n')).toMatch(/keys that differ only in case/);
    } else {
      expect(labeled).toEqual(delivered.map((i) => (i.private ? [`private:${i.full_name}`] : [])));
    }
  });

  it('labels a response that is no collection with its call, and says so as it labels the call; asked anyway (as gh-aw-mcpg asks), it answers nothing', async () => {
    const { guard, backend } = await publicGuard();
    const repo = { owner: 'octo', repo: 'r' };
    for (const tool of ['get_issue', 'create_issue', 'merge_pull_request', 'delete_file']) {
      expect((await guard.labelResource(tool, repo, backend)).wholeResponse, tool).toBe(true);
    }
    for (const tool of ['list_issues', 'search_repositories']) {
      expect((await guard.labelResource(tool, repo, backend)).wholeResponse, tool).toBeUndefined();
    }
    const issue = { content: [{ type: 'text', text: JSON.stringify({ items: [{ full_name: 'octo/secret', private: true }] }) }] };
    expect(await guard.labelResponse('get_issue', repo, issue, backend)).toEqual({ kind: 'whole' });
  });

  it('labels every item of a collection, the labels most items share said once', async () => {
    const { guard, backend } = await publicGuard();
    const items = Array.from({ length: 30 }, (_, i) => ({ full_name: `o/r${i}`, private: i % 3 === 0, ...(i % 5 === 0 && { author_association: 'NONE' }) }));
    const result = { content: [{ type: 'text', text: JSON.stringify({ items }) }] };
    const labeling = await guard.labelResponse('search_repositories', {}, result, backend);
    expect(itemSecrecy(result, labeling)).toEqual(items.map((i) => (i.private ? [`private:${i.full_name}`] : [])));
    if (labeling.kind !== 'paths') throw new Error(`labeled ${labeling.kind}`);
    const integrity = split(result, { secrecy: [], integrity: ['resource'] }, labeling).items.map((i) => i.labels.integrity);
    expect(integrity).toEqual(items.map((i) => (i.author_association ? [] : ['contributor', 'maintainer'])));
    // The SDKs' labeledItems: the 16 public items by an owner are the default, the others each a path.
    expect(labeling.defaultLabels).toEqual({ secrecy: [], integrity: ['contributor', 'maintainer'] });
    expect(labeling.paths.map((p) => p.path)).toEqual(items.flatMap((item, i) => (item.private || item.author_association ? [`/items/${i}`] : [])));
  });

  it('reads a text of JSON with whitespace around it, as the gateway does', async () => {
    const { guard, backend } = await publicGuard();
    // JSON.parse reads it, so the gateway would deliver its items: each must be labeled.
    const text = ' \r\n\t{"items":[{"full_name":"o/secret","private":true},{"full_name":"o/public","private":false}]}\n';
    const result = { content: [{ type: 'text', text }] };
    const labeling = await guard.labelResponse('search_repositories', {}, result, backend);
    expect(itemSecrecy(result, labeling)).toEqual([['private:o/secret'], []]);
  });

  it('labels the items of structured content where the text is not JSON, as the gateway reads them', async () => {
    const { guard, backend } = await publicGuard();
    const structuredContent = { items: [{ full_name: 'o/secret', private: true }, { full_name: 'o/public', private: false }] };
    // Texts that start like JSON and are not (a summary, a number JSON does not write, a raw tab in
    // a string): the gateway's JSON.parse refuses them, so the SDKs do too and read the structured content.
    const decoys = ['[INFO] 2 repositories', '{"items":[{"full_name":"o/x","private":false,"n":01}]}', '{"items":[{"full_name":"o/x","private":false,"note":"a\tb"}]}'];
    for (const text of ['2 repositories', '', ' \u00a0{"items":[]}', ...decoys]) {
      const result = { content: [{ type: 'text', text }], structuredContent };
      const labeling = await guard.labelResponse('search_repositories', {}, result, backend);
      expect(itemSecrecy(result, labeling), `beside ${JSON.stringify(text)}`).toEqual([['private:o/secret'], []]);
    }
    // A JSON text first is the document, as the gateway reads it: the structured content is not.
    const labeling = await guard.labelResponse('search_repositories', {}, { content: [{ type: 'text', text: '{"items":[]}' }], structuredContent }, backend);
    expect(labeling.kind === 'paths' ? labeling.paths : labeling.kind).toEqual([]);
    // Unless that text is nested past what every guard reads: the guard may have read the structured content instead.
    const deep = `{"items":[],"deep":${'['.repeat(200)}${']'.repeat(200)}}`;
    await expect(guard.labelResponse('search_repositories', {}, { content: [{ type: 'text', text: deep }], structuredContent }, backend)).rejects.toThrow(
      /nested deeper than 100 levels, past what guards read: it may have read the structured content beside it instead/,
    );
  });

  it('serves concurrent calls from a pool of instances, each told the policy', async () => {
    const gw = await gateway('filter', { repos: 'public', 'min-integrity': 'approved' });
    try {
      const results = await Promise.all(
        Array.from({ length: 12 }, () => gw.call('github___list_issues', { owner: 'octo', repo: 'public' })),
      );
      // Every instance applied min-integrity = contributor: none of them lost the policy.
      for (const r of results) expect(issues(r)).toEqual(['public bug']);
    } finally {
      await gw.close();
    }
  });
});
}
