import { describe, expect, it } from 'vitest';
import wabtInit from 'wabt';
import { FUEL_EXPORT, WasmFormatError, inspect, instrument } from '../../src/guard/wasm-binary.ts';

const wabt = await wabtInit();
const wasm = (wat: string) => wabt.parseWat('t.wat', wat, { exceptions: true }).toBinary({}).buffer;

const MODULE = wasm(`(module
  (global $g (mut i32) (i32.const 7))
  (memory (export "memory") 2 100)
  (func $sum (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $out (loop $l
      (br_if $out (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $acc))
  ;; A loop nested inside an expression operand, not directly in a block.
  (func (export "nested") (param $n i32) (result i32)
    (i32.add (i32.const 1)
      (loop $l (result i32)
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))
        (local.get $n))))
  (func (export "spin") (loop $l (br $l)))
  (func (export "g") (result i32) (global.get $g))
  (func (export "rec") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0)) (else (call 4 (i32.sub (local.get $n) (i32.const 1)))))))`);

function run(bytes: Uint8Array, fuel: bigint) {
  const { bytes: out, info } = instrument(bytes, { maxPages: 16, initialFuel: 1_000n });
  const e = new WebAssembly.Instance(new WebAssembly.Module(out as BufferSource), {}).exports as Record<string, unknown>;
  const g = e[FUEL_EXPORT] as WebAssembly.Global;
  g.value = fuel;
  return { e: e as Record<string, (...a: number[]) => number>, fuel: g, info, memory: e.memory as WebAssembly.Memory };
}

describe('module rewriting', () => {
  it('reads export signatures and memory limits', () => {
    const info = inspect(MODULE);
    expect(info.exports.find((x) => x.name === 'sum')).toEqual({ name: 'sum', kind: 'func', type: { params: ['i32'], results: ['i32'] } });
    expect(info.memory).toEqual({ min: 2, max: 100 });
  });

  it('charges each straight-line segment its instruction count, and keeps results and globals', () => {
    const { e, fuel } = run(MODULE, 1_000_000n);
    const used = (f: () => void) => {
      const before = fuel.value as bigint;
      f();
      return before - (fuel.value as bigint);
    };
    expect(e.sum!(1000)).toBe(499500);
    // One loop iteration runs 13 instructions (4 up to br_if, 9 up to br), plus the loop head's test.
    expect(used(() => e.sum!(1000)) - used(() => e.sum!(0))).toBe(1000n * (13n + 8n));
    expect(e.g!()).toBe(7);
    expect(e.nested!(10)).toBe(1);
    expect(used(() => e.nested!(10)) - used(() => e.nested!(9))).toBe(8n + 8n);
  });

  it('a leaf called directly is paid for by its caller, its whole length; called any other way it is metered itself', () => {
    // $leaf: no loop, no call (6 instructions with its end). The loops call it directly and
    // through the table, the same work but for the i32.const that names the table slot.
    const m = wasm(`(module
      (type $t (func (param i32) (result i32)))
      (table 1 funcref) (elem (i32.const 0) $leaf)
      (func $leaf (export "leaf") (param $x i32) (result i32) (i32.add (i32.mul (local.get $x) (i32.const 3)) (i32.const 1)))
      (func (export "direct") (param $n i32) (result i32) (local $s i32)
        (loop $l
          (local.set $s (i32.add (local.get $s) (call $leaf (local.get $n))))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (local.get $s))
      (func (export "indirect") (param $n i32) (result i32) (local $s i32)
        (loop $l
          (local.set $s (i32.add (local.get $s) (call_indirect (type $t) (local.get $n) (i32.const 0))))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (local.get $s)))`);
    const { e, fuel } = run(m, 1_000_000n);
    const used = (f: () => number) => {
      fuel.value = 1_000_000n;
      f();
      return 1_000_000n - (fuel.value as bigint);
    };
    expect(e.direct!(10)).toBe(175);
    expect(e.indirect!(10)).toBe(175);
    const direct = used(() => e.direct!(11)) - used(() => e.direct!(10));
    const indirect = used(() => e.indirect!(11)) - used(() => e.indirect!(10));
    // An iteration pays the leaf's 6 instructions either way; through the table it also pays the
    // slot's i32.const and the leaf's own entry test.
    expect(direct).toBe(indirect - 1n - 8n);
    expect(direct).toBeGreaterThanOrEqual(6n + 8n);
    // Called by the host (an export), the leaf pays for itself.
    expect(used(() => e.leaf!(1))).toBe(6n + 8n);
  });

  it('charges bulk memory instructions by size, before they touch memory', () => {
    const bulk = wasm(`(module (memory (export "memory") 2)
      (func (export "copy") (param $n i32) (memory.copy (i32.const 0) (i32.const 100) (local.get $n)))
      (func (export "fill") (param $n i32) (memory.fill (i32.const 0) (i32.const 7) (local.get $n))))`);
    const { e, fuel, memory } = run(bulk, 1_000_000n);
    e.copy!(80_000);
    expect(1_000_000n - (fuel.value as bigint)).toBe(80_000n / 4n + 5n + 8n);
    fuel.value = 100n;
    expect(() => e.fill!(80_000)).toThrow(WebAssembly.RuntimeError);
    expect(new Uint8Array(memory.buffer)[0]).toBe(0);
    fuel.value = 1_000_000n;
    e.fill!(8);
    expect(new Uint8Array(memory.buffer)[0]).toBe(7);
  });

  it('refuses instructions it cannot price: table.fill, unknown SIMD and prefixed opcodes', () => {
    const opts = { maxPages: 16, initialFuel: 1n };
    expect(() => instrument(wasm('(module (table 1 funcref) (func (table.fill 0 (i32.const 0) (ref.null func) (i32.const 1))))'), opts)).toThrow(
      /table\.fill is not supported/,
    );
    // A body holding 0xfd 0x200 (no such SIMD instruction), spliced into a valid module.
    const m = new Uint8Array(wasm('(module (func (nop) (nop) (nop)))'));
    const at = m.lastIndexOf(0x01, m.length - 2) - 2;
    m.set([0xfd, 0x80, 0x04], at);
    expect(() => instrument(m, opts)).toThrow(/0xfd 512 is not supported/);
  });

  it('traps an endless loop and unbounded recursion when the fuel is spent', () => {
    const { e, fuel } = run(MODULE, 10_000n);
    expect(() => e.spin!()).toThrow(WebAssembly.RuntimeError);
    expect(fuel.value as bigint).toBeLessThan(0n);
    fuel.value = 50n;
    expect(() => e.rec!(1000)).toThrow(WebAssembly.RuntimeError);
  });

  it('caps the memory maximum and refuses a module whose initial memory exceeds the cap', () => {
    const { memory } = run(MODULE, 1000n);
    expect(() => memory.grow(15)).toThrow(RangeError);
    expect(memory.grow(14)).toBe(2);
    expect(() => instrument(wasm('(module (memory 40))'), { maxPages: 16, initialFuel: 1n })).toThrow(/2560 KiB of memory at start, over its cap of 1024 KiB/);
  });

  it('keeps the fuel global exact wherever another reads it: a callee or the host sees every charge, and the caller keeps what they took', () => {
    const m = wasm(`(module
      (import "env" "probe" (func $probe))
      (func $leaf (result i32) (i32.const 5))
      (func (export "f") (param $n i32) (result i32) (local $x i32)
        (local.set $x (i32.add (local.get $n) (i32.const 1)))
        (call $probe)
        (block $out
          (br_if $out (local.get $n))
          (local.set $x (call $leaf)))
        (call $probe)
        (br_if 0 (local.get $x) (local.get $n))
        (drop)
        (local.get $x))
      (func (export "early") (param $n i32) (result i32)
        (i32.add (i32.const 1) (block $b (result i32) (br_table $b 1 (i32.const 7) (local.get $n))))))`);
    const { bytes } = instrument(m, { maxPages: 1, initialFuel: 1_000n });
    const seen: bigint[] = [];
    const probe = () => {
      seen.push(fuel.value as bigint);
      // What the host takes for a call of its own.
      fuel.value = (fuel.value as bigint) - 100n;
    };
    const e = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), { env: { probe } }).exports as Record<string, (...a: number[]) => number>;
    const fuel = e[FUEL_EXPORT] as unknown as WebAssembly.Global;
    fuel.value = 10_000n;
    expect(e.f!(0)).toBe(5);
    // The entry's charge was written back before the first probe; the callee's and the first
    // probe's charges were read back, and kept, by the second.
    expect(seen[0]).toBeLessThan(10_000n);
    expect(seen[1]).toBeLessThan(seen[0]! - 100n);
    // After it, the last segment (drop, local.get, end) and nothing else.
    expect(fuel.value as bigint).toBe(seen[1]! - 100n - 3n);
    // A return by a branch out of the body (br_if, br_table) writes the counter back too.
    seen.length = 0;
    expect(e.f!(1)).toBe(2);
    expect(fuel.value as bigint).toBe(seen[1]! - 100n);
    for (const [n, result] of [[0, 8], [1, 7]] as const) {
      fuel.value = 10_000n;
      expect(e.early!(n)).toBe(result);
      expect(fuel.value as bigint).toBeLessThan(10_000n - 8n);
    }
  });

  it('adds the fuel global and export to a module that has neither section', () => {
    const { bytes } = instrument(wasm('(module (func (export "f")))'), { maxPages: 1, initialFuel: 5n });
    const info = inspect(bytes);
    expect(info.exports.map((x) => x.name)).toEqual(['f', FUEL_EXPORT]);
  });

  it('refuses what it cannot read rather than passing it through', () => {
    expect(() => inspect(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/bad magic number/);
    expect(() => inspect(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]))).toThrow(/component/);
    expect(() => instrument(wasm('(module (import "env" "m" (memory 1)))'), { maxPages: 1, initialFuel: 1n })).toThrow(WasmFormatError);
  });
});
