// How much CPU a runaway guard gets before the default fuel stops it, and how much work a real
// guard can do within it. In process, through the real guard host (metering, pool, limits).
// Usage: node scripts/bench-guard-limits.ts   (after npm run build:guards)
import { readFileSync } from 'node:fs';
import { limitsSchema } from '../src/config/schema.ts';
import type { BackendCall } from '../src/guard/guard.ts';
import { WasmGuard, compileGuard } from '../src/guard/wasm-guard.ts';
import { configureLog } from '../src/shared/log.ts';
import wabtInit from 'wabt';

configureLog({ level: 'error' });
const wabt = await wabtInit();
const limits = limitsSchema.parse({});
const text = (t: string) => ({ content: [{ type: 'text', text: t }] });
const backend: BackendCall = async () => text('{"items":[]}');

/** A guard whose label_resource runs `body`; everything else answers at once. */
function guard(body: string, extra = ''): Uint8Array {
  const agent = '{"agent":{"secrecy":[],"integrity":[]}}';
  return wabt
    .parseWat(
      'g.wat',
      `(module (memory (export "memory") 300) (data (i32.const 0) ${JSON.stringify(agent)}) ${extra}
      (func (export "label_agent") (param i32 i32 i32 i32) (result i32)
        (memory.copy (local.get 2) (i32.const 0) (i32.const ${agent.length})) (i32.const ${agent.length}))
      (func (export "label_resource") (param i32 i32 i32 i32) (result i32) (local $x i32) ${body} (i32.const -1))
      (func (export "label_response") (param i32 i32 i32 i32) (result i32) (i32.const 0)))`,
    )
    .toBinary({}).buffer;
}

async function cpuOf(name: string, bytes: Uint8Array, run: (g: WasmGuard) => Promise<unknown>): Promise<void> {
  const g = new WasmGuard(name, await compileGuard(name, bytes, limits), limits);
  await g.labelAgent({ 'allow-only': { repos: 'public', 'min-integrity': 'none' } }, backend);
  // The first call runs baseline-compiled code (slower per instruction); later ones optimized code.
  const samples: number[] = [];
  const walls: number[] = [];
  let outcome = '';
  for (let i = 0; i < 6; i++) {
    const t = process.cpuUsage();
    const w = performance.now();
    outcome = await run(g).then(
      () => 'answered',
      (err: Error) => (/fuel/.test(err.message) ? 'stopped by fuel' : err.message.slice(0, 60)),
    );
    walls.push(performance.now() - w);
    const u = process.cpuUsage(t);
    samples.push((u.user + u.system) / 1000);
  }
  const ms = (x: number) => `${x.toFixed(1).padStart(7)} ms`;
  const [first, firstWall] = [samples.shift()!, walls.shift()!];
  samples.sort((a, b) => a - b);
  walls.sort((a, b) => a - b);
  console.log(`${name.padEnd(40)} ${ms(firstWall)} ${ms(first)} ${ms(walls[2]!)} ${ms(samples[2]!)}   ${outcome}`);
}

const call = (g: WasmGuard) => g.labelResource('x', {}, backend);
// A chain the compiler cannot fold into one constant, kept alive by a store.
const straight = Array.from({ length: 4_000 }, () => '(local.set $x (i32.xor (i32.rotl (local.get $x) (i32.const 5)) (i32.const 0x1e3779b9)))').join(' ');
console.log(`default limits.fuel = ${limits.fuel.toLocaleString('en')}. One call: the first (baseline code), then the median of five`);
console.log('(optimized code). "wall" is how long the call held the main thread; "CPU" adds background compilation.\n');
console.log(`${'runaway guards'.padEnd(40)} first wall  first CPU  median wall median CPU`);
await cpuOf('tight loop', guard('(loop $l (br $l))'), call);
await cpuOf('loop with a 20,000-instruction body', guard(`(loop $l ${straight} (i32.store (i32.const 64) (local.get $x)) (br $l))`), call);
await cpuOf('loop calling a function', guard('(loop $l (call $f) (br $l))', '(func $f)'), call);
await cpuOf('loop with branches', guard('(loop $l (if (i32.and (local.get $x) (i32.const 1)) (then (local.set $x (i32.add (local.get $x) (i32.const 3)))) (else (local.set $x (i32.add (local.get $x) (i32.const 1))))) (br $l))'), call);
await cpuOf('loop copying 8 MiB', guard('(loop $l (memory.copy (i32.const 0) (i32.const 8388608) (i32.const 8388608)) (br $l))'), call);

console.log('\nreal guards labeling a search result per item (about 250 bytes an item)');
for (const file of ['repo-visibility', 'repo-visibility-go']) {
  const bytes = readFileSync(`dist/guards/${file}.wasm`);
  for (const n of [100, 1_000, 5_000]) {
    const items = Array.from({ length: n }, (_, i) => ({ full_name: `octo/r${i}`, private: i % 2 === 0, description: 'x'.repeat(150), author_association: 'MEMBER' }));
    const result = text(JSON.stringify({ items }));
    await cpuOf(`${file}, ${n} items`, bytes, (g) => g.labelResponse('search_repositories', { query: 'x' }, result, backend));
  }
}
