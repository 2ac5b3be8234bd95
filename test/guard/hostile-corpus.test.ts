// Attackers write the data: every case of the hostile corpus goes to each sample guard (built
// from source) and to hostile WAT guards, in tool arguments, tool names, tool results and the
// answers of the guard's own backend calls. A case may be denied; afterwards the same guard
// must label a normal call correctly. No data disables a guard.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitsSchema } from '../../src/config/schema.ts';
import { split } from '../../src/difc/response.ts';
import type { BackendCall, Guard } from '../../src/guard/guard.ts';
import { WasmGuard, compileGuard } from '../../src/guard/wasm-guard.ts';
import { McpgError } from '../../src/shared/errors.ts';
import { configureLog } from '../../src/shared/log.ts';
import { guardWat, watToBytes } from '../fixtures/guards/wat.ts';
import { type HostileCase, hostileCases } from '../fixtures/hostile/corpus.ts';
import { INITIALIZE, ROOT, rawGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

// Each refused call logs a warning; the assertions read the errors, not the log.
configureLog({ writer: () => {} });

const CASES = hostileCases();
const text = (t: string) => ({ content: [{ type: 'text', text: t }] });
const REPOS = [
  { full_name: 'octo/public', private: false },
  { full_name: 'octo/secret', private: true },
];

/** The guard's own backend, answering as GitHub's MCP server does; `hostile` replaces its answers. */
function github(hostile?: unknown): BackendCall {
  return async (tool, args) => {
    if (hostile !== undefined) return hostile;
    const m = /^repo:(.+)$/.exec(String(args.query));
    if (tool === 'search_repositories') return text(JSON.stringify({ items: REPOS.filter((r) => !m || r.full_name === m[1]) }));
    throw new Error(`no tool ${tool}`);
  };
}

async function load(name: string, bytes: Uint8Array, policy: unknown): Promise<Guard> {
  const limits = limitsSchema.parse({ instances: 2 });
  const guard = new WasmGuard(name, await compileGuard(name, bytes, limits), limits);
  await guard.labelAgent(policy, github());
  return guard;
}

const repoVisibilityCheck = async (guard: Guard) => {
  const pub = await guard.labelResource('list_issues', { owner: 'octo', repo: 'public' }, github());
  expect(pub).toMatchObject({ operation: 'read', resource: { secrecy: [] } });
  const secret = await guard.labelResource('get_issue', { owner: 'octo', repo: 'secret', issue_number: 7 }, github());
  expect(secret).toMatchObject({ operation: 'read', resource: { secrecy: ['private:octo/secret'] } });
  const result = text(JSON.stringify({ items: REPOS }));
  const response = await guard.labelResponse('search_repositories', { query: 'user:octo' }, result, github());
  // Each item as the gateway reads the answer (its own path, or the default labels); "resource" marks neither.
  expect(response.kind).toBe('paths');
  expect(split(result, { secrecy: ['resource'], integrity: [] }, response).items.map((i) => i.labels.secrecy)).toEqual([[], ['private:octo/secret']]);
};

const guards: { name: string; bytes: () => Uint8Array; policy: unknown; check: (g: Guard) => Promise<void> }[] = [
  {
    name: 'repo-visibility (AssemblyScript)',
    bytes: () => readFileSync(join(ROOT, 'dist/guards/repo-visibility.wasm')),
    policy: { 'allow-only': { repos: 'public', 'min-integrity': 'none' } },
    check: repoVisibilityCheck,
  },
  {
    name: 'repo-visibility (Go)',
    bytes: () => readFileSync(join(ROOT, 'dist/guards/repo-visibility-go.wasm')),
    policy: { 'allow-only': { repos: 'public', 'min-integrity': 'none' } },
    check: repoVisibilityCheck,
  },
  {
    name: 'allow-list (AssemblyScript)',
    bytes: () => readFileSync(join(ROOT, 'dist/guards/allow-list.wasm')),
    policy: { allow: ['list_issues'] },
    check: async (guard) => {
      expect(await guard.labelResource('list_issues', {}, github())).toMatchObject({ operation: 'read' });
      expect(await guard.labelResource('delete_repo', {}, github())).toMatchObject({ operation: 'write', resource: { integrity: ['allow-list:never'] } });
    },
  },
  ...(
    [
      // Traps on input holding "[W", spins on input holding "\u", asks for a huge buffer on "\\".
      ['trap', '(if (call $has (i32.const 0x575b)) (then unreachable))'],
      ['spin', '(if (call $has (i32.const 0x755c)) (then (loop $l (br $l))))'],
      ['huge answer', '(if (call $has (i32.const 0x5c5c)) (then (i32.store (local.get $out) (i32.const 0x7fffffff)) (return (i32.const -2))))'],
    ] as const
  ).map(([name, misbehave]) => ({
    name: `WAT guard (${name})`,
    bytes: () =>
      watToBytes(
        guardWat(
          `(global.set $inPtr (local.get $in)) (global.set $inEnd (i32.add (local.get $in) (local.get $inLen)))
           ${misbehave} (call $answer (local.get $out) (local.get $size))`,
          // $has: does the input hold these two bytes (little-endian) anywhere?
          `(global $inPtr (mut i32) (i32.const 0)) (global $inEnd (mut i32) (i32.const 0))
           (func $has (param $pair i32) (result i32) (local $p i32)
             (local.set $p (global.get $inPtr))
             (block $no (loop $scan
               (br_if $no (i32.ge_u (i32.add (local.get $p) (i32.const 1)) (global.get $inEnd)))
               (if (i32.eq (i32.load16_u (local.get $p)) (local.get $pair)) (then (return (i32.const 1))))
               (local.set $p (i32.add (local.get $p) (i32.const 1)))
               (br $scan)))
             (i32.const 0))`,
        ),
      ),
    policy: {},
    check: async (guard: Guard) => {
      expect((await guard.labelResource('echo', { text: 'plain' }, github())).resource.description).toBe('ok');
    },
  })),
];

/** Every way a case reaches a guard; each may be answered or refused, never anything else. */
function attempts(c: HostileCase, i: number): [string, (g: Guard) => unknown][] {
  const fresh = `fresh-${i}`;
  return [
    ['as tool arguments', (g) => g.labelResource('list_issues', { owner: c.value, repo: c.value, payload: c.value }, github())],
    ['as a tool name', (g) => g.labelResource(c.text, { owner: 'octo', repo: 'public' }, github())],
    ['as a result text', (g) => g.labelResponse('list_issues', { owner: 'octo', repo: 'public' }, text(c.text), github())],
    ['as a search result text', (g) => g.labelResponse('search_repositories', { query: 'x' }, text(c.text), github())],
    ['as the result itself', (g) => g.labelResponse('search_repositories', { query: 'x' }, c.value, github())],
    ['as the backend answer text', (g) => g.labelResource('list_issues', { owner: 'octo', repo: fresh }, github(text(c.text)))],
    ['as the backend answer', (g) => g.labelResource('list_issues', { owner: 'octo', repo: `${fresh}-raw` }, github(c.value))],
  ];
}

describe('hostile corpus, in process: no data disables a guard', () => {
  for (const g of guards) {
    it(`${g.name}: every case is answered or refused, and a normal call is then labeled right`, { timeout: 120_000 }, async () => {
      const guard = await load(g.name, g.bytes(), g.policy);
      let refused = 0;
      for (const [i, c] of CASES.entries()) {
        for (const [how, attempt] of attempts(c, i)) {
          try {
            await attempt(guard);
          } catch (err) {
            // Refused: with one clear error that names the guard, never a crash of another kind.
            expect(err, `${c.name} ${how}`).toBeInstanceOf(McpgError);
            expect((err as McpgError).code, `${c.name} ${how}`).toMatch(/^GUARD_/);
            expect((err as McpgError).message).toContain(`guard "${g.name}"`);
            refused++;
            if (process.env.SHOW_REFUSALS) console.log(`REFUSED ${g.name} | ${c.name} ${how} | ${(err as McpgError).message.slice(0, 160)}`);
          }
        }
        await g.check(guard);
      }
      // The corpus is hostile: some cases must be refused (deep nesting cannot even be encoded).
      expect(refused).toBeGreaterThan(0);
    });
  }
});

describe('hostile corpus, through mcpg run', () => {
  for (const [language, file] of [
    ['AssemblyScript', 'repo-visibility.wasm'],
    ['Go', 'repo-visibility-go.wasm'],
  ] as const) {
    it(`repo-visibility (${language}): after every hostile call the same gateway answers a normal call correctly`, { timeout: 120_000 }, async () => {
      const dir = tempDir();
      const config = writeConfig(dir, {
        gateway: { mode: 'filter' },
        mcpServers: { github: { command: process.execPath, args: [join(ROOT, 'test/fixtures/servers/github-hostile.ts')], guard: 'repo' } },
        guards: { repo: { path: join(ROOT, 'dist/guards', file), policy: { 'allow-only': { repos: 'public', 'min-integrity': 'none' } } } },
      });
      const gw = rawGateway(config);
      let id = 0;
      const call = async (args: string) => {
        const n = ++id;
        gw.send(`{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"github___list_issues","arguments":${args}}}\n`);
        return gw.answer(n);
      };
      const normal = async () => {
        const r = (await call('{"owner":"octo","repo":"public"}')) as { result?: { content: { text: string }[] } };
        expect(JSON.parse(r.result!.content[0]!.text)).toEqual([{ number: 1, title: 'public bug', author_association: 'MEMBER' }]);
        // Filter mode: the private repository's issues are withheld, the list comes back empty.
        const s = (await call('{"owner":"octo","repo":"secret"}')) as { result?: { isError?: boolean; content: { text: string }[] } };
        expect(s.result?.content[0]?.text).toBe('[]');
        expect(s.result?.content[1]?.text).toMatch(/^\[mcpg\] 1 of 1 items withheld/);
      };
      try {
        gw.send(INITIALIZE);
        await gw.answer('init');
        gw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        for (const c of CASES) {
          // In the arguments the guard reads, and as the result text the backend sends back.
          const answers = [
            await call(`{"owner":"octo","repo":"public","payload":${c.json}}`),
            await call(`{"owner":"octo","repo":"public","reply":${JSON.stringify(c.text)}}`),
          ];
          for (const a of answers) expect(a, c.name).toHaveProperty('result');
          await normal();
        }
        // A search whose text nests past what guards read (AssemblyScript's SDK stops at 512
        // levels, Rust's serde_json at 128): its private repository never reaches the agent,
        // whether the guard read it or answered nothing.
        for (const depth of [99, 200, 600]) {
          const reply = `{"items":[{"full_name":"octo/secret","private":true,"deep":${'['.repeat(depth)}${']'.repeat(depth)}},{"full_name":"octo/public","private":false}]}`;
          const n = ++id;
          gw.send({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: 'github___search_repositories', arguments: { query: 'user:octo', reply } } });
          const a = (await gw.answer(n)) as { result?: { isError?: boolean; content: { text: string }[] } };
          const texts = a.result!.content.map((c) => c.text).join('\n');
          expect(texts, `${depth} levels`).not.toContain('octo/secret');
          // Filtered by a guard that read it; withheld, saying why, when one answered nothing.
          if (a.result?.isError) expect(texts).toMatch(/nested deeper than 100 levels/);
          else expect(JSON.parse(a.result!.content[0]!.text)).toMatchObject({ items: [{ full_name: 'octo/public' }] });
        }
        await normal();
        // Items in structured content beside a text that is not JSON, though it starts like it
        // (a summary, a number JSON does not write, a raw tab): the gateway labels the structured
        // content, so the guard must read that too, not answer nothing (which labels it all public).
        const structured = JSON.stringify({ items: [{ full_name: 'octo/secret', private: true }, { full_name: 'octo/public', private: false }] });
        for (const reply of ['[INFO] 2 repositories', '{"items":[{"full_name":"octo/public","private":false,"n":01}]}', '{"items":[{"full_name":"octo/public","private":false,"note":"a\tb"}]}']) {
          const n = ++id;
          gw.send({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: 'github___search_repositories', arguments: { query: 'user:octo', reply, structured } } });
          const a = (await gw.answer(n)) as { result?: { structuredContent?: unknown } };
          expect(JSON.stringify(a.result), reply).not.toContain('octo/secret');
          expect(a.result?.structuredContent, reply).toEqual({ items: [{ full_name: 'octo/public', private: false }] });
        }
        await normal();
        // Invalid UTF-8 on the wire (an SDK client cannot send it): read as U+FFFD, then labeled.
        gw.send(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":"utf8","method":"tools/call","params":{"name":"github___list_issues","arguments":{"owner":"octo","repo":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}}}\n')]));
        expect(await gw.answer('utf8')).toHaveProperty('result');
        await normal();
      } finally {
        gw.close();
      }
    });
  }
});
