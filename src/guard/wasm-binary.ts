/**
 * Reading and rewriting guard modules at the binary level, before they are compiled:
 * - the signatures of imports and exports (the JS API does not expose them), for the ABI check;
 * - a memory maximum no larger than the guard's cap;
 * - fuel metering: an exported i64 global that each straight-line segment decrements by its
 *   instruction count (bulk memory instructions by their size), trapping at a loop head or
 *   function entry once it is negative. It bounds CPU on the main thread without a watchdog;
 *   waiting in an import (call_backend) costs no fuel.
 *
 * Only what is needed is decoded; every instruction is walked so that no loop escapes metering.
 * A module using an encoding this reader does not know is refused, never passed through.
 */

export const FUEL_EXPORT = '__mcpg_fuel';
/**
 * The rewriter's output version: metered modules are cached under it. Bump it with any change
 * to what `instrument` writes (test/guard/metering-version.test.ts fails until you do).
 */
export const METERING_VERSION = 3;

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'ref';
export interface FuncType {
  params: ValType[];
  results: ValType[];
}
export interface ImportEntry {
  module: string;
  name: string;
  kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
  type?: FuncType;
}
export interface ExportEntry {
  name: string;
  kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
  type?: FuncType;
}
export interface ModuleInfo {
  imports: ImportEntry[];
  exports: ExportEntry[];
  /** Initial and maximum memory in 64 KiB pages, when the module defines its memory. */
  memory?: { min: number; max?: number };
}

export class WasmFormatError extends Error {}

const KINDS = ['func', 'table', 'memory', 'global', 'tag'] as const;
const VALTYPES: Record<number, ValType> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'ref', 0x6f: 'ref' };

class Reader {
  pos: number;
  readonly b: Uint8Array;
  readonly end: number;
  constructor(b: Uint8Array, start = 0, end = b.length) {
    this.b = b;
    this.pos = start;
    this.end = end;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError('unexpected end of module');
    return this.b[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if (!(x & 0x80)) return result;
      shift += 7;
      if (shift > 63) throw new WasmFormatError('LEB128 too long');
    }
  }
  /** Any signed or unsigned LEB128, skipped. */
  skipLeb(): void {
    for (let i = 0; this.byte() & 0x80; i++) if (i > 10) throw new WasmFormatError('LEB128 too long');
  }
  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.end) throw new WasmFormatError('unexpected end of module');
  }
  name(): string {
    const len = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + len));
    this.skip(len);
    return s;
  }
  valtype(): ValType {
    const t = this.byte();
    if (t === 0x63 || t === 0x64) {
      this.skipLeb();
      return 'ref';
    }
    const v = VALTYPES[t];
    if (!v) throw new WasmFormatError(`unknown value type 0x${t.toString(16)}`);
    return v;
  }
  limits(): { min: number; max?: number; flags: number } {
    const flags = this.byte();
    if (flags > 0x07) throw new WasmFormatError(`unknown limits flags 0x${flags.toString(16)}`);
    const min = this.u32();
    return flags & 1 ? { flags, min, max: this.u32() } : { flags, min };
  }
}

function u32leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function sleb64(n: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && !(b & 0x40)) || (n === -1n && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A growable byte buffer: modules run to megabytes, too large for array spreads. */
class Writer {
  buf = new Uint8Array(1024);
  len = 0;
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  put(bytes: ArrayLike<number>): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

interface Section {
  id: number;
  start: number;
  end: number;
}

function sections(b: Uint8Array): Section[] {
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) {
    throw new WasmFormatError('not a WebAssembly module (bad magic number)');
  }
  if (b[4] !== 1 || b[5] !== 0 || b[6] !== 0 || b[7] !== 0) {
    throw new WasmFormatError('not a WebAssembly core module, version 1 (a component? build a core module)');
  }
  const r = new Reader(b, 8);
  const out: Section[] = [];
  while (r.pos < b.length) {
    const id = r.byte();
    const size = r.u32();
    out.push({ id, start: r.pos, end: r.pos + size });
    r.skip(size);
  }
  return out;
}

function parseTypes(b: Uint8Array, s: Section): FuncType[] {
  const r = new Reader(b, s.start, s.end);
  const types: FuncType[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const form = r.byte();
    if (form !== 0x60) throw new WasmFormatError('GC or recursive type definitions are not supported in guards');
    const params = Array.from({ length: r.u32() }, () => r.valtype());
    const results = Array.from({ length: r.u32() }, () => r.valtype());
    types.push({ params, results });
  }
  return types;
}

interface Parsed {
  info: ModuleInfo;
  secs: Section[];
  /** The type of every function: the imported ones first. */
  funcTypes: FuncType[];
  /** The type index of each function the module defines (its function section). */
  typeIndices: number[];
  importedFuncs: number;
  importedGlobals: number;
  memoryImported: boolean;
}

function parse(b: Uint8Array): Parsed {
  const secs = sections(b);
  const typeSec = secs.find((s) => s.id === 1);
  const types = typeSec ? parseTypes(b, typeSec) : [];
  const typeAt = (i: number) => {
    const t = types[i];
    if (!t) throw new WasmFormatError(`type index ${i} out of range`);
    return t;
  };
  const imports: ImportEntry[] = [];
  const funcTypes: FuncType[] = [];
  const typeIndices: number[] = [];
  let importedGlobals = 0;
  let memoryImported = false;
  let memory: ModuleInfo['memory'];
  const exports: ExportEntry[] = [];
  for (const s of secs) {
    const r = new Reader(b, s.start, s.end);
    if (s.id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const module = r.name();
        const name = r.name();
        const kind = KINDS[r.byte()];
        if (!kind) throw new WasmFormatError('unknown import kind');
        if (kind === 'func') {
          const type = typeAt(r.u32());
          funcTypes.push(type);
          imports.push({ module, name, kind, type });
          continue;
        }
        if (kind === 'table') {
          r.valtype();
          r.limits();
        } else if (kind === 'memory') {
          r.limits();
          memoryImported = true;
        } else if (kind === 'global') {
          r.valtype();
          r.byte();
          importedGlobals++;
        } else {
          r.byte();
          r.u32();
        }
        imports.push({ module, name, kind });
      }
    } else if (s.id === 3) {
      for (let n = r.u32(); n > 0; n--) {
        const index = r.u32();
        typeIndices.push(index);
        funcTypes.push(typeAt(index));
      }
    } else if (s.id === 5) {
      const count = r.u32();
      if (count > 1) throw new WasmFormatError('more than one memory is not supported in guards');
      if (count === 1) {
        const l = r.limits();
        if (l.flags & 0x06) throw new WasmFormatError('shared or 64-bit memories are not supported in guards');
        memory = { min: l.min, max: l.max };
      }
    } else if (s.id === 7) {
      for (let n = r.u32(); n > 0; n--) {
        const name = r.name();
        const kind = KINDS[r.byte()];
        const index = r.u32();
        if (!kind) throw new WasmFormatError('unknown export kind');
        exports.push(kind === 'func' ? { name, kind, type: funcTypes[index] } : { name, kind });
      }
    }
  }
  const importedFuncs = imports.filter((i) => i.kind === 'func').length;
  return { info: { imports, exports, memory }, secs, funcTypes, typeIndices, importedFuncs, importedGlobals, memoryImported };
}

export function inspect(bytes: Uint8Array): ModuleInfo {
  return parse(bytes).info;
}

function blocktype(r: Reader): void {
  const t = r.b[r.pos]!;
  if (t === 0x40 || VALTYPES[t]) r.pos++;
  else if (t === 0x63 || t === 0x64) r.valtype();
  else r.skipLeb();
}

function memarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32();
  r.skipLeb();
}

/**
 * Where a function body is charged: each straight-line segment pays its instruction count at its
 * head (as wasmtime and wasm-metering do). Segments begin at the function entry and wherever
 * control can arrive other than by falling through: after `loop`, `if`, `else`, `end`, a branch,
 * `catch`. Only function entries and loop heads test the counter: between them control runs
 * forward through at most one function body, and the host tests the counter after every call.
 *
 * Inside a function the counter is a local of its own (a register, where a global is a load and
 * a store at every segment): it is read from the fuel global at entry and after every call, and
 * written back before every call, return and failed test, so the global is exact wherever anyone
 * else reads it (a callee, the host, a bulk helper). A function with exception handling, where a
 * handler is entered from a callee's throw, charges the global directly.
 *
 * A leaf (no loop, no call) runs at most its own length. A direct call of one goes to an
 * unmetered copy of it, and the calling segment pays the leaf's whole length up front; the counter
 * stays in the caller's local across the call (the leaf reads nothing of it). Between tests,
 * control then runs forward through one function body and the leaves it calls. The original stays
 * metered, for whoever reaches it another way (an export, a table, a reference).
 */
interface Segment {
  at: number;
  cost: number;
  test: boolean;
}

/** A bulk memory or table instruction, replaced by a call to a helper that charges by size. */
interface BulkOp {
  start: number;
  end: number;
}

interface Walk {
  segments: Segment[];
  bulk: BulkOp[];
  /** Where the counter is written back to the global (before a call, a return, the body's end). */
  stores: number[];
  /** Where it is read again (after a call). */
  loads: number[];
  /** The body uses exception handling: it charges the global itself. */
  handlers: boolean;
  /** Its direct calls (\`call\`): where each lies, and the function it calls. */
  calls: { start: number; end: number; callee: number }[];
  /** No loop and no call of any kind (nor a bulk instruction, nor a handler): its cost is bounded by its length. */
  leaf: boolean;
}

/** Opcodes of exception handling: try, catch, rethrow, delegate, catch_all, try_table. */
const HANDLERS = new Set([0x06, 0x07, 0x09, 0x18, 0x19, 0x1f]);
/** Calls that return here, and instructions that leave the function. */
const CALLS = new Set([0x10, 0x11, 0x14]);
const LEAVES = new Set([0x08, 0x0a, 0x0f, 0x12, 0x13, 0x15]);

/** Opcodes after which a new segment begins (control may arrive there by a jump). */
const SEGMENT_ENDS = new Set([0x00, 0x03, 0x04, 0x05, 0x07, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x18, 0x19, 0xd5, 0xd6]);
/** Instructions with no immediates. */
const PLAIN = new Set([0x00, 0x01, 0x05, 0x0a, 0x0b, 0x0f, 0x19, 0x1a, 0x1b, 0xd1, 0xd3, 0xd4]);

function walkBody(r: Reader, walk: Walk): void {
  let seg: Segment = { at: r.pos, cost: 0, test: true };
  walk.segments.push(seg);
  // Blocks open around the instruction: a branch that far out leaves the function.
  let depth = 0;
  while (r.pos < r.end) {
    const start = r.pos;
    const op = r.byte();
    seg.cost++;
    if (HANDLERS.has(op)) walk.handlers = true;
    let labels: number[] = [];
    switch (op) {
      case 0x02: case 0x03: case 0x04: case 0x06:
        blocktype(r);
        break;
      case 0x1f: {
        blocktype(r);
        for (let n = r.u32(); n > 0; n--) {
          const kind = r.byte();
          if (kind === 0x00 || kind === 0x01) r.u32();
          r.u32();
        }
        break;
      }
      case 0x0c: case 0x0d: case 0xd5: case 0xd6:
        labels = [r.u32()];
        break;
      case 0x10: {
        const callee = r.u32();
        walk.calls.push({ start, end: r.pos, callee });
        break;
      }
      case 0x12: case 0x14: case 0x15: case 0x08: case 0x07: case 0x09: case 0x18:
      case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26: case 0xd2:
        r.u32();
        break;
      case 0x0e:
        for (let n = r.u32() + 1; n > 0; n--) labels.push(r.u32());
        break;
      case 0x11: case 0x13:
        r.u32();
        r.u32();
        break;
      case 0x1c:
        for (let n = r.u32(); n > 0; n--) r.valtype();
        break;
      case 0x3f: case 0x40:
        r.u32();
        break;
      case 0x41: case 0x42:
        r.skipLeb();
        break;
      case 0x43:
        r.skip(4);
        break;
      case 0x44:
        r.skip(8);
        break;
      case 0xd0:
        blocktype(r);
        break;
      case 0xfc:
        if (walkFc(r)) walk.bulk.push({ start, end: r.pos });
        break;
      case 0xfd:
        walkSimd(r);
        break;
      case 0xfe:
        walkAtomic(r);
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) memarg(r);
        else if (!(PLAIN.has(op) || (op >= 0x45 && op <= 0xc4))) {
          throw new WasmFormatError(`instruction 0x${op.toString(16)} is not supported in guards (it cannot be metered)`);
        }
    }
    if (op === 0x03 || (op >= 0x10 && op <= 0x15)) walk.leaf = false;
    if (op === 0x02 || op === 0x03 || op === 0x04 || op === 0x06 || op === 0x1f) depth++;
    else if (op === 0x0b) depth--;
    // depth is -1 after the body's own end: the function returns there.
    if (CALLS.has(op)) {
      walk.stores.push(start);
      walk.loads.push(r.pos);
    } else if (LEAVES.has(op) || depth < 0 || labels.includes(depth)) walk.stores.push(start);
    if (SEGMENT_ENDS.has(op) && r.pos < r.end) {
      seg = { at: r.pos, cost: 0, test: op === 0x03 };
      walk.segments.push(seg);
    }
  }
}

/** The 0xfc prefix; true for the bulk instructions whose cost grows with their size operand. */
function walkFc(r: Reader): boolean {
  const sub = r.u32();
  if (sub <= 7) return false;
  if (sub === 17) throw new WasmFormatError('instruction table.fill is not supported in guards (it cannot be metered)');
  if (sub === 8 || sub === 10 || sub === 12 || sub === 14) {
    r.u32();
    r.u32();
  } else if (sub <= 16) r.u32();
  else throw new WasmFormatError(`instruction 0xfc ${sub} is not supported in guards`);
  return sub === 8 || sub === 10 || sub === 11 || sub === 12 || sub === 14;
}

/** SIMD: the 0xfd opcodes of the SIMD and relaxed-SIMD proposals; anything else is refused. */
function walkSimd(r: Reader): void {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) memarg(r);
  else if (sub === 12 || sub === 13) r.skip(16);
  else if (sub >= 21 && sub <= 34) r.byte();
  else if (sub >= 84 && sub <= 91) {
    memarg(r);
    r.byte();
  } else if (sub > 0x113) throw new WasmFormatError(`instruction 0xfd ${sub} is not supported in guards`);
}

/** Atomics (0xfe): fence has a zero byte, the rest a memory argument. */
function walkAtomic(r: Reader): void {
  const sub = r.u32();
  if (sub === 0x03) r.byte();
  else if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) memarg(r);
  else throw new WasmFormatError(`instruction 0xfe ${sub} is not supported in guards`);
}

export interface InstrumentOptions {
  /** Cap on memory, in 64 KiB pages. */
  maxPages: number;
  /** Fuel the global starts with: it bounds the start function and `_initialize`. */
  initialFuel: bigint;
}

/** One unit of fuel per 2^BULK_SHIFT bytes (or elements) a bulk instruction touches. */
const BULK_SHIFT = 2;
/**
 * What a loop head or function entry costs beyond its own instructions: the counter test. It
 * makes fuel track CPU for tight loops and small functions, where the test is most of the work.
 */
const TEST_COST = 8;
const I32X3_TO_NONE = [0x60, 3, 0x7f, 0x7f, 0x7f, 0];

/**
 * The module with its memory capped and fuel metering added. Function and global indices of the
 * original are unchanged: the fuel global and the bulk-instruction helpers are appended.
 */
export function instrument(bytes: Uint8Array, options: InstrumentOptions): { bytes: Uint8Array; info: ModuleInfo } {
  const { info, secs, funcTypes, typeIndices, importedFuncs, importedGlobals, memoryImported } = parse(bytes);
  if (memoryImported) throw new WasmFormatError('the module imports its memory; a guard must define and export its own');
  if (info.memory && info.memory.min > options.maxPages) {
    throw new WasmFormatError(`the module needs ${info.memory.min * 64} KiB of memory at start, over its cap of ${options.maxPages * 64} KiB`);
  }
  const count = (id: number) => {
    const s = secs.find((x) => x.id === id);
    return s ? new Reader(bytes, s.start, s.end).u32() : 0;
  };
  const fuel = u32leb(importedGlobals + count(6));
  const code = secs.find((s) => s.id === 10);
  const bodies = code ? walkCode(bytes, code) : [];
  // One helper per distinct bulk instruction (its immediates included), appended after the
  // module's own functions.
  const helpers = new Map<string, number>();
  for (const b of bodies) {
    for (const op of b.walk.bulk) {
      const key = bytes.subarray(op.start, op.end).join(',');
      if (!helpers.has(key)) helpers.set(key, importedFuncs + count(3) + helpers.size);
    }
  }
  const helperType = count(1);
  // A leaf (no loop, no call) called directly is called as a copy without metering: its length
  // bounds what it runs, so the caller's segment pays that length up front, and the counter stays
  // in the caller's local across the call. The original stays metered for everyone else (an
  // export, a table, a reference), who may call it without paying first.
  const leaves: Leaves = new Map();
  for (const b of bodies) {
    for (const { callee } of b.walk.calls) {
      const leaf = bodies[callee - importedFuncs];
      if (!leaf?.walk.leaf || leaves.has(callee)) continue;
      leaves.set(callee, { body: leaf, copy: importedFuncs + count(3) + helpers.size + leaves.size, cost: leaf.walk.segments.reduce((n, seg) => n + seg.cost, 0) });
    }
  }

  const fuelGlobal = [0x7e, 0x01, 0x42, ...sleb64(options.initialFuel), 0x0b];
  const fuelExport = [...u32leb(FUEL_EXPORT.length), ...new TextEncoder().encode(FUEL_EXPORT), 0x03, ...fuel];
  const out = new Writer();
  out.put(bytes.subarray(0, 8));
  const emit = (id: number, body: ArrayLike<number>) => {
    out.put([id, ...u32leb(body.length)]);
    out.put(body);
  };
  const raw = (s: Section) => bytes.subarray(s.start, s.end);
  const appendToVec = (s: Section, items: number[][]) => {
    const r = new Reader(bytes, s.start, s.end);
    const w = new Writer();
    w.put(u32leb(r.u32() + items.length));
    w.put(bytes.subarray(r.pos, s.end));
    for (const item of items) w.put(item);
    return w.bytes();
  };
  const order = (id: number) => (id === 12 ? 9.5 : id === 13 ? 5.5 : id);
  let globalDone = false;
  let exportDone = false;
  const flushBefore = (id: number) => {
    if (!globalDone && id !== 0 && order(id) > 6) {
      emit(6, [1, ...fuelGlobal]);
      globalDone = true;
    }
    if (!exportDone && id !== 0 && order(id) > 7) {
      emit(7, [1, ...fuelExport]);
      exportDone = true;
    }
  };
  const extra = (list: number[]) => (helpers.size ? [...helpers.keys()].map(() => list) : []);
  for (const s of secs) {
    flushBefore(s.id);
    if (s.id === 1) emit(1, appendToVec(s, helpers.size ? [I32X3_TO_NONE] : []));
    else if (s.id === 3) emit(3, appendToVec(s, [...extra(u32leb(helperType)), ...[...leaves.keys()].map((f) => u32leb(typeIndices[f - importedFuncs]!))]));
    else if (s.id === 5 && info.memory) {
      const max = Math.min(info.memory.max ?? options.maxPages, options.maxPages);
      emit(5, [1, 0x01, ...u32leb(info.memory.min), ...u32leb(max)]);
    } else if (s.id === 6) {
      emit(6, appendToVec(s, [fuelGlobal]));
      globalDone = true;
    } else if (s.id === 7) {
      emit(7, appendToVec(s, [fuelExport]));
      exportDone = true;
    } else if (s.id === 10) {
      emit(10, meteredCode(bytes, bodies, fuel, helpers, leaves, (i) => funcTypes[importedFuncs + i]!.params.length));
    } else {
      emit(s.id, raw(s));
    }
  }
  flushBefore(99);
  return { bytes: out.bytes(), info };
}

interface Body {
  /** The whole entry: its size prefix, locals and instructions. */
  start: number;
  end: number;
  /** The locals' declaration (after the size): where it starts, its groups, where they start, the locals it declares. */
  locals: { at: number; groups: number; groupsAt: number; count: number };
  /** Where the instructions begin (after the size and the locals). */
  code: number;
  walk: Walk;
}

function walkCode(bytes: Uint8Array, s: Section): Body[] {
  const r = new Reader(bytes, s.start, s.end);
  const bodies: Body[] = [];
  for (let i = r.u32(); i > 0; i--) {
    const start = r.pos;
    const size = r.u32();
    const end = r.pos + size;
    const body = new Reader(bytes, r.pos, end);
    const locals = { at: body.pos, groups: body.u32(), groupsAt: body.pos, count: 0 };
    for (let n = locals.groups; n > 0; n--) {
      locals.count += body.u32();
      body.valtype();
    }
    const walk: Walk = { segments: [], bulk: [], stores: [], loads: [], handlers: false, calls: [], leaf: true };
    const code = body.pos;
    walkBody(body, walk);
    if (walk.bulk.length || walk.handlers) walk.leaf = false;
    bodies.push({ start, end, locals, code, walk });
    r.pos = end;
  }
  return bodies;
}

/** Charges the fuel global (a body with exception handling). */
function charge(fuel: number[], cost: number, test: boolean): number[] {
  const sub = [0x23, ...fuel, 0x42, ...sleb64(BigInt(cost)), 0x7d, 0x24, ...fuel];
  return test ? [...sub, 0x23, ...fuel, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b] : sub;
}

/** Charges the body's counter local; a failed test writes it back first, for the host to read. */
function chargeLocal(counter: number[], fuel: number[], cost: number, test: boolean): number[] {
  const sub = [0x20, ...counter, 0x42, ...sleb64(BigInt(cost)), 0x7d];
  return test ? [...sub, 0x22, ...counter, 0x42, 0x00, 0x53, 0x04, 0x40, 0x20, ...counter, 0x24, ...fuel, 0x00, 0x0b] : [...sub, 0x21, ...counter];
}

/** Leaves called as unmetered copies, by function index: the body, its copy's index, its cost. */
type Leaves = Map<number, { body: Body; copy: number; cost: number }>;

function meteredCode(bytes: Uint8Array, bodies: Body[], fuel: number[], helpers: Map<string, number>, leaves: Leaves, paramCount: (i: number) => number): Uint8Array {
  const out = new Writer();
  out.put(u32leb(bodies.length + helpers.size + leaves.size));
  for (const [i, b] of bodies.entries()) {
    // Calls of leaves: their copy is called, paid for by the segment the call is in, and the
    // counter is neither written back before nor read after (a leaf reads nothing of it).
    const leafCalls = b.walk.calls.filter((c) => leaves.has(c.callee));
    const noStore = new Set(leafCalls.map((c) => c.start));
    const noLoad = new Set(leafCalls.map((c) => c.end));
    const prepaid = new Map<Segment, number>();
    for (const c of leafCalls) {
      const seg = b.walk.segments.findLast((x) => x.at <= c.start)!;
      prepaid.set(seg, (prepaid.get(seg) ?? 0) + leaves.get(c.callee)!.cost);
    }
    const local = !b.walk.handlers;
    // The counter is declared after the function's own locals.
    const counter = u32leb(paramCount(i) + b.locals.count);
    const store = [0x20, ...counter, 0x24, ...fuel];
    const load = [0x23, ...fuel, 0x21, ...counter];
    const head = local ? [...u32leb(b.locals.groups + 1), ...bytes.subarray(b.locals.groupsAt, b.code), 0x01, 0x7e] : [...bytes.subarray(b.locals.at, b.code)];
    // Edits in order: inserted at a position (by kind where several meet), or an instruction replaced.
    const edits: { at: number; order: number; skip: number; put: number[] }[] = [];
    if (local) {
      edits.push({ at: b.code, order: 0, skip: 0, put: load });
      for (const at of b.walk.loads) if (!noLoad.has(at)) edits.push({ at, order: 1, skip: 0, put: load });
      for (const at of b.walk.stores) if (!noStore.has(at)) edits.push({ at, order: 3, skip: 0, put: store });
    }
    for (const c of leafCalls) edits.push({ at: c.start, order: 4, skip: c.end - c.start, put: [0x10, ...u32leb(leaves.get(c.callee)!.copy)] });
    for (const seg of b.walk.segments) {
      const cost = seg.cost + (seg.test ? TEST_COST : 0) + (prepaid.get(seg) ?? 0);
      if (seg.cost > 0) edits.push({ at: seg.at, order: 2, skip: 0, put: local ? chargeLocal(counter, fuel, cost, seg.test) : charge(fuel, cost, seg.test) });
    }
    for (const op of b.walk.bulk) {
      const call = [0x10, ...u32leb(helpers.get(bytes.subarray(op.start, op.end).join(','))!)];
      edits.push({ at: op.start, order: 4, skip: op.end - op.start, put: local ? [...store, ...call, ...load] : call });
    }
    edits.sort((x, y) => x.at - y.at || x.order - y.order);
    // The new size is known before writing: the locals, the body, plus what is inserted, less what is replaced.
    out.put(u32leb(edits.reduce((n, e) => n + e.put.length - e.skip, head.length + b.end - b.code)));
    out.put(head);
    let from = b.code;
    for (const e of edits) {
      out.put(bytes.subarray(from, e.at));
      out.put(e.put);
      from = e.at + e.skip;
    }
    out.put(bytes.subarray(from, b.end));
  }
  for (const key of helpers.keys()) {
    const op = key.split(',').map(Number);
    const body = [
      0x00,
      // fuel -= n >> BULK_SHIFT, trapping when spent, before any byte is touched.
      0x23, ...fuel, 0x20, 0x02, 0xad, 0x42, BULK_SHIFT, 0x88, 0x7d, 0x24, ...fuel,
      0x23, ...fuel, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b,
      0x20, 0x00, 0x20, 0x01, 0x20, 0x02, ...op, 0x0b,
    ];
    out.put([...u32leb(body.length), ...body]);
  }
  // The copies, as they are (each entry with its size).
  for (const { body } of leaves.values()) out.put(bytes.subarray(body.start, body.end));
  return out.bytes();
}
