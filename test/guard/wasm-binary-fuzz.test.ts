// Property test of the metering rewrite: random valid modules (structured control flow, loops,
// branches, br_table, calls, memory and bulk instructions) must validate after rewriting and
// compute exactly what the original computes, while using fuel.
import { describe, expect, it } from 'vitest';
import wabtInit from 'wabt';
import { FUEL_EXPORT, instrument } from '../../src/guard/wasm-binary.ts';
import { seeded } from '../helpers/random.ts';

const wabt = await wabtInit();

type Rng = ReturnType<typeof seeded>;
const LOCALS = ['$a', '$b', '$x', '$y'];
const BINOPS = ['i32.add', 'i32.sub', 'i32.mul', 'i32.xor', 'i32.and', 'i32.or', 'i32.shl', 'i32.rotl', 'i32.shr_u'];

function expr(r: Rng, depth: number, fn: number): string {
  const k = depth > 3 ? r.int(2) : r.int(7);
  if (k === 0) return `(i32.const ${r.int(2000) - 1000})`;
  if (k === 1) return `(local.get ${r.pick(LOCALS)})`;
  if (k === 2) return `(${r.pick(BINOPS)} ${expr(r, depth + 1, fn)} ${expr(r, depth + 1, fn)})`;
  if (k === 3) return `(i32.load (i32.and ${expr(r, depth + 1, fn)} (i32.const 0xffc)))`;
  if (k === 4) return `(select ${expr(r, depth + 1, fn)} ${expr(r, depth + 1, fn)} ${expr(r, depth + 1, fn)})`;
  if (k === 5 && fn > 0) return `(call $f${r.int(fn)} ${expr(r, depth + 1, fn)} ${expr(r, depth + 1, fn)})`;
  return `(i32.eqz ${expr(r, depth + 1, fn)})`;
}

/** Statements; `labels` are the enclosing block labels a branch may target. */
function stmts(r: Rng, depth: number, fn: number, labels: string[], counters: { n: number }): string {
  const out: string[] = [];
  for (let i = r.int(depth > 2 ? 2 : 4) + 1; i > 0; i--) {
    const k = depth > 3 ? r.int(3) : r.int(10);
    if (k <= 1) out.push(`(local.set ${r.pick(LOCALS)} ${expr(r, 0, fn)})`);
    else if (k === 2) out.push(`(i32.store (i32.and ${expr(r, 1, fn)} (i32.const 0xffc)) ${expr(r, 1, fn)})`);
    else if (k === 3) {
      out.push(`(if ${expr(r, 1, fn)} (then ${stmts(r, depth + 1, fn, labels, counters)}) (else ${stmts(r, depth + 1, fn, labels, counters)}))`);
    } else if (k === 4) {
      const l = `$b${depth}_${i}`;
      out.push(`(block ${l} ${stmts(r, depth + 1, fn, [...labels, l], counters)} (br_if ${l} ${expr(r, 1, fn)}) ${stmts(r, depth + 1, fn, [...labels, l], counters)})`);
    } else if (k === 5 && counters.n < 4) {
      // A bounded loop: its counter is its own, so the statements inside cannot make it endless.
      const c = `$c${counters.n++}`;
      const l = `$l${depth}_${i}`;
      out.push(
        `(local.set ${c} (i32.const ${r.int(20) + 1})) (loop ${l} ${stmts(r, depth + 1, fn, labels, counters)} ` +
          `(local.set ${c} (i32.sub (local.get ${c}) (i32.const 1))) (br_if ${l} (i32.gt_s (local.get ${c}) (i32.const 0))))`,
      );
    } else if (k === 6 && labels.length) {
      const targets = Array.from({ length: r.int(3) + 1 }, () => r.pick(labels)).join(' ');
      out.push(`(if ${expr(r, 1, fn)} (then (br_table ${targets} (i32.and ${expr(r, 1, fn)} (i32.const 3)))))`);
    } else if (k === 7) out.push(`(memory.fill (i32.and ${expr(r, 1, fn)} (i32.const 0x7ff)) ${expr(r, 1, fn)} (i32.const ${r.int(512)}))`);
    else if (k === 8) out.push(`(memory.copy (i32.const ${r.int(2048)}) (i32.const ${r.int(2048)}) (i32.const ${r.int(1024)}))`);
    else out.push(`(if ${expr(r, 1, fn)} (then (return ${expr(r, 1, fn)})))`);
  }
  return out.join('\n');
}

function randomModule(seed: number): string {
  const r = seeded(seed);
  const fns: string[] = [];
  const count = r.int(3) + 1;
  for (let f = 0; f < count; f++) {
    const counters = { n: 0 };
    const body = stmts(r, 0, f, [], counters);
    fns.push(`(func $f${f} ${f === count - 1 ? '(export "main")' : ''} (param $a i32) (param $b i32) (result i32)
      (local $x i32) (local $y i32) (local $c0 i32) (local $c1 i32) (local $c2 i32) (local $c3 i32)
      ${body}
      (i32.add (local.get $x) (i32.xor (local.get $y) (local.get $a))))`);
  }
  return `(module (memory (export "memory") 1) ${fns.join('\n')})`;
}

function runMain(bytes: Uint8Array, a: number, b: number, fuel?: bigint) {
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), {}).exports as Record<string, unknown>;
  if (fuel !== undefined) (e[FUEL_EXPORT] as WebAssembly.Global).value = fuel;
  const result = (e.main as (a: number, b: number) => number)(a, b);
  const memory = Buffer.from((e.memory as WebAssembly.Memory).buffer).toString('base64');
  const left = fuel === undefined ? undefined : ((e[FUEL_EXPORT] as WebAssembly.Global).value as bigint);
  return { result, memory, used: left === undefined ? 0n : fuel! - left };
}

describe('metering rewrite, property test', () => {
  it('300 random modules validate after rewriting and compute the same results and memory', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const wat = randomModule(seed);
      const original = wabt.parseWat(`m${seed}.wat`, wat).toBinary({}).buffer;
      const { bytes } = instrument(original, { maxPages: 1, initialFuel: 1_000_000n });
      expect(WebAssembly.validate(bytes as BufferSource), `seed ${seed}`).toBe(true);
      for (const [a, b] of [[0, 0], [7, -3], [123456, 99]] as const) {
        const want = runMain(original, a, b);
        const got = runMain(bytes, a, b, 1n << 40n);
        expect({ seed, result: got.result, memory: got.memory }).toEqual({ seed, result: want.result, memory: want.memory });
        expect(got.used, `seed ${seed}`).toBeGreaterThan(0n);
        // Metering is deterministic: the same call costs the same fuel.
        expect(runMain(bytes, a, b, 1n << 40n).used).toBe(got.used);
      }
    }
  });

  it('every random module traps when given less fuel than it needs', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const original = wabt.parseWat(`m${seed}.wat`, randomModule(seed)).toBinary({}).buffer;
      const { bytes } = instrument(original, { maxPages: 1, initialFuel: 1_000_000n });
      const { used } = runMain(bytes, 7, -3, 1n << 40n);
      // With fuel short by the last segment, the call either traps or ends with fuel below zero
      // (the host tests the counter after every call).
      let trapped = false;
      let left = 0n;
      try {
        left = runMain(bytes, 7, -3, used - 1n).used;
      } catch (err) {
        trapped = err instanceof WebAssembly.RuntimeError;
      }
      expect(trapped || left > used - 1n, `seed ${seed}`).toBe(true);
    }
  });
});
