// Section 4 of npm run bench (scripts/bench.ts): the guard alone, in a process of its own, so
// that both sides of its ratio run in the same fresh process, not in the bench's own after two
// minutes of other work: there, over five runs, a call with a call_backend read 8.7-9.3 µs and
// Extism 17.5-19 (0.49-0.53x); alone, over nine, 8.2-9.0 and 17.6-19.2 (0.44-0.49x). One
// label_resource, the same with the CPU's caches cold, and one with a call_backend inside,
// against the same work as an Extism plugin.
// Prints one JSON line of medians in nanoseconds.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import createPlugin, { type CallContext } from '@extism/extism';
import asc from 'assemblyscript/asc';
import { limitsSchema } from '../../src/config/schema.ts';
import { noopGuard } from '../../src/guard/builtin.ts';
import { WasmGuard, compileGuard } from '../../src/guard/wasm-guard.ts';
import { ARGS, pct } from './measure.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'mcpg-guard-alone-'));
const limits = limitsSchema.parse({});
const wasm = new WasmGuard('repo-visibility', await compileGuard('repo-visibility', readFileSync(join(ROOT, 'dist/guards/repo-visibility.wasm')), limits), limits);
const search = { content: [{ type: 'text', text: JSON.stringify({ items: [{ full_name: 'o/r', private: false }] }) }] };
let repoN = 0;
const backend = async () => search;
await wasm.labelAgent({ 'allow-only': { repos: 'public', 'min-integrity': 'none' } }, backend);
const noop = noopGuard();
/** The times of `n` calls of `fn`, each after `before` (when given). */
const timed = async (fn: () => unknown, n: number, before?: () => void) => {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    before?.();
    const t = process.hrtime.bigint();
    await fn();
    xs.push(Number(process.hrtime.bigint() - t));
  }
  return xs;
};
const untimed = async (fn: () => unknown, n: number) => {
  for (let i = 0; i < n; i++) await fn();
};
// Each series is timed after as many untimed calls of its own (a gateway's guards run long: what
// counts is the steady state, not an instance's first calls; Extism's plugin is warmed the same).
const timeIt = async (fn: () => unknown, n = 20_000, before?: () => void) => {
  await untimed(fn, n);
  return pct(await timed(fn, n, before), 50);
};
const noopNs = await timeIt(() => noop.labelResource('get_echo', ARGS, backend));
const wasmNs = await timeIt(() => wasm.labelResource('get_echo', ARGS, backend));
// The same with the CPU's caches cold: 1 MB of other memory touched before each call, as the
// processes beside a gateway do between its calls (there a guard call costs several times this).
const other = new Uint8Array(1 << 20);
const touchOther = () => {
  for (let i = 0; i < other.length; i += 64) other[i]!++;
};
const wasmColdNs = await timeIt(() => wasm.labelResource('get_echo', ARGS, backend), 5_000, touchOther);
// A new repository each call: the guard asks the backend every time.
const withBackend = () => wasm.labelResource('list_issues', { owner: 'o', repo: `r${repoN++}` }, backend);
// The anchor: the same work as an Extism plugin on Extism's JS SDK (in process, its default).
const pluginFile = join(work, 'extism-plugin.wasm');
const built = await asc.main([join(ROOT, 'scripts/bench/assembly/extism-plugin.ts'), '-o', pluginFile, '--optimize', '--runtime', 'minimal', '--use', 'abort=', '--noAssert'], {});
if (built.error) throw new Error(`extism plugin: ${built.stderr.toString()}`);
const plugin = await createPlugin(
  { wasm: [{ data: readFileSync(pluginFile) }] },
  {
    useWasi: false,
    functions: {
      'extism:host/user': {
        call_backend: (ctx: CallContext, at: bigint) => {
          JSON.parse(ctx.read(at)!.text());
          return ctx.store(JSON.stringify(search));
        },
      },
    },
  },
);
// Extism's JS SDK never reuses a memory block's index (three a call), and addresses overflow past
// 32,768: the plugin is reset between calls every 5,000, as a host running it long must do (the
// reset lands in one sample of 20,000, which the median does not see).
let sinceReset = 0;
const withExtism = async () => {
  if (++sinceReset > 5_000) {
    await plugin.reset();
    sinceReset = 1;
  }
  return plugin.call('label_resource', JSON.stringify({ tool_name: 'list_issues', tool_args: { owner: 'o', repo: `r${repoN++}` } }));
};
// The ratio's two sides side by side: each warmed by as many untimed calls, then timed in 5
// alternating rounds of 4,000 calls, not one series after the other; each side's median is over
// all its rounds.
const alternating = async (fns: (() => unknown)[], rounds = 5, perRound = 4_000) => {
  for (const fn of fns) await untimed(fn, 20_000);
  const times = fns.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) for (const [k, fn] of fns.entries()) times[k]!.push(...(await timed(fn, perRound)));
  return times.map((xs) => pct(xs, 50));
};
const [backendNs, extismNs] = (await alternating([withBackend, withExtism])) as [number, number];
rmSync(work, { recursive: true, force: true });
console.log(JSON.stringify({ noopNs, wasmNs, wasmColdNs, backendNs, extismNs }));
