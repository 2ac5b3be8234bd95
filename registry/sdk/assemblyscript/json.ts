// A small JSON value for guards: parse the host's input, build and serialise the answer.
// AssemblyScript has no JSON in its standard library. Parsing reads UTF-8 bytes in place and
// serialising writes UTF-8 bytes: guards sit on every call, so this avoids building strings.
// A parsed string is a span of the bytes it was parsed from, decoded only when read as a string
// (a label call reads a few of an input's strings: each decoded was an allocation, and allocating
// was most of a guard's time), and written back as those bytes. To keep a string across calls,
// keep `.s`, not the value (which keeps the whole input alive).

export const enum Kind { Null, Bool, Number, String, Array, Object, Written }

const NO_BYTES = new ArrayBuffer(0);
// Shared by scalars, which never hold children (push and set refuse them).
const NO_VALUES = new Array<Value>(0);
const NO_KEYS = new Array<string>(0);

export class Value {
  kind: Kind = Kind.Null;
  b: bool = false;
  n: f64 = 0;
  private text: string = "";
  /** A string's UTF-8 bytes, until it is read as a string (Value.utf8). */
  private utf8: ArrayBuffer | null = null;
  /** A parsed string not read yet: `len` bytes of `src` from `at`, between its quotes (esc: holding escapes). */
  private src: ArrayBuffer | null = null;
  private at: i32 = 0;
  private len: i32 = 0;
  private esc: bool = false;
  /** Elements of an array. */
  items: Value[] = NO_VALUES;
  /** Keys and values of an object, in order. */
  keys: string[] = NO_KEYS;
  vals: Value[] = NO_VALUES;
  /** A value already written as JSON (Kind.Written): its first `jsonLen` bytes; an answer's many small parts cost one buffer each. */
  private json: ArrayBuffer | null = null;
  private jsonLen: i32 = 0;

  static null(): Value { return new Value(); }
  static bool(b: bool): Value { const v = new Value(); v.kind = Kind.Bool; v.b = b; return v; }
  static num(n: f64): Value { const v = new Value(); v.kind = Kind.Number; v.n = n; return v; }
  static str(s: string): Value { const v = new Value(); v.kind = Kind.String; v.text = s; return v; }
  static utf8(bytes: ArrayBuffer): Value { const v = new Value(); v.kind = Kind.String; v.utf8 = bytes; return v; }
  /** A parsed string, read from its bytes when asked for (see `src`). */
  static span(src: ArrayBuffer, at: i32, len: i32, esc: bool): Value {
    const v = new Value();
    v.kind = Kind.String; v.src = src; v.at = at; v.len = len; v.esc = esc;
    return v;
  }
  /** A value given as the JSON that `w` wrote: serialised as it is, never read back. */
  static written(w: Writer): Value { const v = new Value(); v.kind = Kind.Written; v.json = w.buf; v.jsonLen = w.len; return v; }
  /** A written value's JSON as it lies in memory: where, and (`writtenLength`) how long; 0 for any other value. */
  writtenAt(): usize { const json = this.json; return json != null ? changetype<usize>(json) : 0; }
  writtenLength(): i32 { return this.jsonLen; }

  /** The string's value ("" when not a string). */
  get s(): string {
    const src = this.src;
    if (src != null) {
      if (this.esc) {
        const w = unescaped(src, this.at, this.len);
        this.text = String.UTF8.decodeUnsafe(changetype<usize>(w.buf), w.len);
      } else this.text = String.UTF8.decodeUnsafe(changetype<usize>(src) + <usize>this.at, this.len);
      this.src = null;
    }
    const bytes = this.utf8;
    if (bytes != null) {
      this.text = String.UTF8.decode(bytes);
      this.utf8 = null;
    }
    return this.text;
  }
  set s(s: string) { this.text = s; this.utf8 = null; this.src = null; }
  /** The string as UTF-8 bytes, without decoding it. */
  bytes(): ArrayBuffer {
    const src = this.src;
    if (src != null) return this.esc ? unescaped(src, this.at, this.len).done() : src.slice(this.at, this.at + this.len);
    const bytes = this.utf8;
    return bytes != null ? bytes : String.UTF8.encode(this.text);
  }
  /**
   * The string's content parsed as JSON, from its bytes (a tool result's text is JSON inside
   * JSON, often megabytes: it is never decoded into a string); null when it is not a string,
   * not JSON, or (`containers`) not an object or array (parseError is then NOT_A_DOCUMENT).
   */
  parseJson(containers: bool = false): Value | null {
    if (this.kind != Kind.String) return null;
    let buf: ArrayBuffer;
    let at: i32 = 0;
    let len: i32;
    const src = this.src;
    if (src != null && !this.esc) { buf = src; at = this.at; len = this.len; }
    else if (src != null) { const w = unescaped(src, this.at, this.len); buf = w.buf; len = w.len; }
    else { buf = this.bytes(); len = buf.byteLength; }
    // The first character after JSON's whitespace, as JSON.parse (the gateway's) reads the text.
    const head = firstByte(changetype<usize>(buf) + <usize>at, len);
    if (containers && head != 0x7b && head != 0x5b) {
      parseError = NOT_A_DOCUMENT;
      return null;
    }
    return parseIn(buf, at, len);
  }
  /** A parsed string not read yet is written as the bytes it came from: true when it was. */
  writeParsed(w: Writer): bool {
    const src = this.src;
    if (src == null) return false;
    const from = changetype<usize>(src) + <usize>this.at;
    w.byte(0x22);
    w.raw(from, this.len);
    w.byte(0x22);
    return true;
  }
  static arr(): Value { const v = new Value(); v.kind = Kind.Array; v.items = []; return v; }
  static obj(): Value { const v = new Value(); v.kind = Kind.Object; v.keys = []; v.vals = []; return v; }
  static strings(list: string[]): Value {
    const v = Value.arr();
    for (let i = 0; i < list.length; i++) v.items.push(Value.str(list[i]));
    return v;
  }

  get isNull(): bool { return this.kind == Kind.Null; }
  get isString(): bool { return this.kind == Kind.String; }
  get isArray(): bool { return this.kind == Kind.Array; }
  get isObject(): bool { return this.kind == Kind.Object; }

  /**
   * The member `key` of an object, or null. A key that repeats counts by its last member, as
   * the gateway's JSON.parse (and Go's and Rust's decoders) read it: a guard labels what the
   * agent would be given, not a decoy placed before it.
   */
  get(key: string): Value | null {
    const keys = this.keys;
    for (let i = keys.length - 1; i >= 0; i--) if (keys[i] == key) return this.vals[i];
    return null;
  }
  /** The string member `key`, or `fallback` when absent or not a string. */
  str(key: string, fallback: string = ""): string {
    const v = this.get(key);
    return v != null && v.kind == Kind.String ? v.s : fallback;
  }
  /** The boolean member `key`, or `fallback`. */
  flag(key: string, fallback: bool = false): bool {
    const v = this.get(key);
    return v != null && v.kind == Kind.Bool ? v.b : fallback;
  }
  set(key: string, v: Value): Value {
    if (this.kind != Kind.Object) throw new Error("set on a JSON value that is not an object");
    for (let i = this.keys.length - 1; i >= 0; i--) if (this.keys[i] == key) { this.vals[i] = v; return this; }
    this.keys.push(key); this.vals.push(v);
    return this;
  }
  push(v: Value): Value {
    if (this.kind != Kind.Array) throw new Error("push on a JSON value that is not an array");
    this.items.push(v);
    return this;
  }

  /** UTF-8 JSON. */
  toBytes(): ArrayBuffer {
    const w = new Writer();
    w.value(this);
    return w.done();
  }
  toString(): string {
    return String.UTF8.decode(this.toBytes());
  }
}

export class Writer {
  buf: ArrayBuffer;
  len: i32 = 0;
  constructor(capacity: i32 = 256) { this.buf = new ArrayBuffer(capacity); }

  reserve(n: i32): void {
    if (this.len + n <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new ArrayBuffer(cap);
    memory.copy(changetype<usize>(next), changetype<usize>(this.buf), this.len);
    this.buf = next;
  }
  raw(ptr: usize, n: i32): void {
    this.reserve(n);
    memory.copy(changetype<usize>(this.buf) + this.len, ptr, n);
    this.len += n;
  }
  codePoint(cp: u32): void {
    if (cp < 0x80) this.byte(<u8>cp);
    else if (cp < 0x800) { this.byte(<u8>(0xc0 | (cp >> 6))); this.byte(<u8>(0x80 | (cp & 0x3f))); }
    else if (cp < 0x10000) { this.byte(<u8>(0xe0 | (cp >> 12))); this.byte(<u8>(0x80 | ((cp >> 6) & 0x3f))); this.byte(<u8>(0x80 | (cp & 0x3f))); }
    else {
      this.byte(<u8>(0xf0 | (cp >> 18))); this.byte(<u8>(0x80 | ((cp >> 12) & 0x3f)));
      this.byte(<u8>(0x80 | ((cp >> 6) & 0x3f))); this.byte(<u8>(0x80 | (cp & 0x3f)));
    }
  }
  byte(b: u8): void {
    this.reserve(1);
    store<u8>(changetype<usize>(this.buf) + this.len, b);
    this.len++;
  }
  ascii(s: string): void {
    const n = s.length;
    this.reserve(n);
    const base = changetype<usize>(this.buf) + this.len;
    for (let i = 0; i < n; i++) store<u8>(base + i, <u8>s.charCodeAt(i));
    this.len += n;
  }
  string(s: string): void {
    this.byte(0x22);
    const n = s.length;
    let from = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c == 0x22 || c == 0x5c || c < 0x20) {
        this.utf8(s, from, i);
        this.byte(0x5c);
        if (c == 0x22 || c == 0x5c) this.byte(<u8>c);
        else if (c == 0x0a) this.byte(0x6e);
        else if (c == 0x0d) this.byte(0x72);
        else if (c == 0x09) this.byte(0x74);
        else { this.ascii("u00"); this.byte(<u8>(c < 0x10 ? 0x30 : 0x31)); this.byte(<u8>((c & 0xf) < 10 ? 0x30 + (c & 0xf) : 0x57 + (c & 0xf))); }
        from = i + 1;
      }
    }
    this.utf8(s, from, n);
    this.byte(0x22);
  }
  /** s[from, to) as UTF-8, without an intermediate buffer for the common ASCII case. */
  utf8(s: string, from: i32, to: i32): void {
    if (to <= from) return;
    let ascii = true;
    for (let i = from; i < to; i++) if (s.charCodeAt(i) >= 0x80) { ascii = false; break; }
    if (ascii) {
      const n = to - from;
      this.reserve(n);
      const base = changetype<usize>(this.buf) + this.len;
      for (let i = 0; i < n; i++) store<u8>(base + i, <u8>s.charCodeAt(from + i));
      this.len += n;
      return;
    }
    const bytes = String.UTF8.encode(s.substring(from, to));
    this.reserve(bytes.byteLength);
    memory.copy(changetype<usize>(this.buf) + this.len, changetype<usize>(bytes), bytes.byteLength);
    this.len += bytes.byteLength;
  }
  value(v: Value): void {
    switch (v.kind) {
      case Kind.Null: this.ascii("null"); return;
      case Kind.Bool: this.ascii(v.b ? "true" : "false"); return;
      case Kind.Number:
        if (isFinite(v.n) && Math.floor(v.n) == v.n && Math.abs(v.n) < 9007199254740992) this.ascii((<i64>v.n).toString());
        else this.ascii(isFinite(v.n) ? v.n.toString() : "null");
        return;
      case Kind.String: if (!v.writeParsed(this)) this.string(v.s); return;
      case Kind.Written: this.raw(v.writtenAt(), v.writtenLength()); return;
      case Kind.Array: {
        this.byte(0x5b);
        for (let i = 0; i < v.items.length; i++) { if (i) this.byte(0x2c); this.value(v.items[i]); }
        this.byte(0x5d);
        return;
      }
      default: {
        this.byte(0x7b);
        for (let i = 0; i < v.keys.length; i++) {
          if (i) this.byte(0x2c);
          this.string(v.keys[i]);
          this.byte(0x3a);
          this.value(v.vals[i]);
        }
        this.byte(0x7d);
      }
    }
  }
  /** A JSON array of strings. */
  strings(list: string[]): void {
    this.byte(0x5b);
    for (let i = 0; i < list.length; i++) { if (i) this.byte(0x2c); this.string(list[i]); }
    this.byte(0x5d);
  }
  done(): ArrayBuffer {
    return this.buf.slice(0, this.len);
  }
}

/**
 * Keys repeat: every item of a collection has the same few. The last string made for a short
 * ASCII key is kept in a small table by a hash of its bytes and given again while the bytes
 * match, instead of a new string for each item.
 */
const MAX_INTERNED: i32 = 32;
const INTERN_SLOTS: i32 = 128;
const interned = new StaticArray<string>(INTERN_SLOTS);

function internedKey(at: usize, n: i32): string {
  let h: u32 = <u32>n;
  for (let i = 0; i < n; i++) h = (h ^ <u32>load<u8>(at + i)) * 16777619;
  const slot = <i32>(h & <u32>(INTERN_SLOTS - 1));
  const known = unchecked(interned[slot]);
  if (changetype<usize>(known) != 0 && known.length == n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (<u32>known.charCodeAt(i) != <u32>load<u8>(at + i)) { same = false; break; }
    }
    if (same) return known;
  }
  const key = String.UTF8.decodeUnsafe(at, n);
  // Only ASCII keys are kept: for them one byte is one character, which the match above relies on.
  if (key.length == n) unchecked(interned[slot] = key);
  return key;
}

/** Deeper input is refused: recursion past this would exhaust the guard's stack. */
export const MAX_DEPTH = 512;

/** Why the last parse returned null ("" after a parse that succeeded). */
export let parseError: string = "";
/** parseError when `parseJson(true)` met a text that does not start with an object or array. */
export const NOT_A_DOCUMENT = "not a JSON object or array";

/**
 * The first byte from `p` (before `end`) that ends a run of a string's plain bytes: a quote, a
 * backslash or a control character (which JSON does not allow raw); `end` when none. Eight bytes
 * at a time (a megabyte's text is mostly such runs), then byte by byte within the eight.
 */
function runEnd(p: usize, end: usize): usize {
  while (p + 8 <= end) {
    const x = load<u64>(p);
    const q = x ^ 0x2222222222222222;
    const b = x ^ 0x5c5c5c5c5c5c5c5c;
    // A byte of q or b is zero where x has a quote or a backslash; x - 0x20.. borrows into the
    // top bit of a byte below 0x20 (each test exact for whether any byte is one).
    if ((((q - 0x0101010101010101) & ~q) | ((b - 0x0101010101010101) & ~b) | ((x - 0x2020202020202020) & ~x)) & 0x8080808080808080) break;
    p += 8;
  }
  while (p < end) {
    const c = load<u8>(p);
    if (c == 0x22 || c == 0x5c || c < 0x20) return p;
    p++;
  }
  return end;
}

/** What Parser.escaped ends with. */
const ESC_FAILED: i32 = 0;
const ESC_DONE: i32 = 1;
const ESC_LONG: i32 = 2;
/** A string with escapes longer than this is unescaped while it is parsed (Parser.stringValue). */
const LONG_ESCAPED: i32 = 1024;

// Guards read attacker-written data: the parser never aborts. The first error is kept, the
// cursor jumps to the end, and every loop then unwinds to parseBytes, which returns null.
// One parser, set to each input in turn (parses never nest: nothing a parse calls parses).
class Parser {
  /** The bytes parsed strings point into. */
  src: ArrayBuffer = NO_BYTES;
  p: usize = 0;
  start: usize = 0;
  end: usize = 0;
  depth: i32 = 0;
  err: string = "";
  /** Ready to parse `len` bytes of `src` from `at`. */
  at(src: ArrayBuffer, at: i32, len: i32): Parser {
    this.src = src;
    this.start = changetype<usize>(src) + <usize>at;
    this.p = this.start;
    this.end = this.start + <usize>len;
    this.depth = 0;
    this.err = "";
    return this;
  }
  /** Lets go of the input (the parser is shared: it would keep the last one alive). */
  release(): void {
    this.src = NO_BYTES;
  }

  fail(what: string): Value {
    if (this.err.length == 0) this.err = what + " at byte " + (<i32>(this.p - this.start)).toString();
    this.p = this.end;
    return Value.null();
  }
  @inline peek(): u32 { return this.p < this.end ? <u32>load<u8>(this.p) : 0; }
  ws(): void {
    while (this.p < this.end && isSpace(load<u8>(this.p))) this.p++;
  }
  word(w: string): bool {
    const n = w.length;
    if (this.p + n > this.end) return false;
    for (let i = 0; i < n; i++) if (<u32>load<u8>(this.p + i) != <u32>w.charCodeAt(i)) return false;
    this.p += n;
    return true;
  }
  value(): Value {
    this.ws();
    const c = this.peek();
    if (c == 0x7b || c == 0x5b) {
      if (++this.depth > MAX_DEPTH) return this.fail("nested deeper than " + MAX_DEPTH.toString() + " levels");
      const v = c == 0x7b ? this.object() : this.array();
      this.depth--;
      return v;
    }
    if (c == 0x22) return this.stringValue();
    if (this.word("true")) return Value.bool(true);
    if (this.word("false")) return Value.bool(false);
    if (this.word("null")) return Value.null();
    return this.number();
  }
  /**
   * A number as JSON writes one, and only that (as JSON.parse, Go and serde read them): an
   * optional minus, 0 or digits without a leading zero, then optionally a point and digits, then
   * optionally e, a sign and digits.
   */
  number(): Value {
    const start = this.p;
    if (this.p < this.end && load<u8>(this.p) == 0x2d) this.p++;
    if (!this.isDigit()) {
      if (this.p == start) return this.fail(this.p < this.end ? "unexpected character" : "unexpected end");
      return this.fail("invalid number");
    }
    if (load<u8>(this.p) == 0x30) this.p++;
    else this.digits();
    let integer = true;
    if (this.p < this.end && load<u8>(this.p) == 0x2e) {
      this.p++;
      integer = false;
      if (!this.digits()) return this.fail("invalid number");
    }
    if (this.p < this.end && (load<u8>(this.p) | 0x20) == 0x65) {
      this.p++;
      integer = false;
      if (this.p < this.end && (load<u8>(this.p) == 0x2b || load<u8>(this.p) == 0x2d)) this.p++;
      if (!this.digits()) return this.fail("invalid number");
    }
    // A plain integer of up to 15 digits is exact in an f64: read without making a string.
    const neg = load<u8>(start) == 0x2d;
    const n = <i32>(this.p - start) - (neg ? 1 : 0);
    if (integer && n <= 15) {
      let x: f64 = 0;
      for (let q = start + (neg ? 1 : 0); q < this.p; q++) x = x * 10 + <f64>(load<u8>(q) - 0x30);
      return Value.num(neg ? -x : x);
    }
    return Value.num(parseFloat(String.UTF8.decodeUnsafe(start, <i32>(this.p - start))));
  }
  isDigit(): bool {
    if (this.p >= this.end) return false;
    const c = load<u8>(this.p);
    return c >= 0x30 && c <= 0x39;
  }
  /** Moves past a run of digits: false when there was none. */
  digits(): bool {
    const from = this.p;
    while (this.isDigit()) this.p++;
    return this.p > from;
  }
  /** An object's key: short ASCII keys come from the table of keys seen (see internedKey). */
  string(): string {
    const start = this.p + 1;
    const n = this.plain();
    if (n >= 0) return n <= MAX_INTERNED ? internedKey(start, n) : String.UTF8.decodeUnsafe(start, n);
    const w = new Writer();
    return this.escaped(start, w, 0) == ESC_DONE ? String.UTF8.decodeUnsafe(changetype<usize>(w.buf), w.len) : "";
  }
  /** A string member's value: its span, decoded when read (Value.s). */
  stringValue(): Value {
    const start = this.p + 1;
    const n = this.plain();
    const at = <i32>(start - changetype<usize>(this.src));
    if (n >= 0) return Value.span(this.src, at, n, false);
    // With escapes: a short string is checked and kept as its span; a long one (a tool result's
    // text, JSON inside JSON) is unescaped as it is read, in one pass instead of two.
    const first = this.p;
    const checked = this.escaped(start, null, first + <usize>LONG_ESCAPED);
    if (checked == ESC_DONE) return Value.span(this.src, at, <i32>(this.p - 1 - start), true);
    if (checked == ESC_FAILED) return Value.null();
    this.p = first;
    const w = new Writer(LONG_ESCAPED * 4);
    return this.escaped(start, w, 0) == ESC_DONE ? Value.utf8(w.done()) : Value.null();
  }
  /**
   * The common case, a string without escapes: from the opening quote, moves past the closing
   * one and returns the length between; -1 (the cursor at a backslash, a control character or
   * the end) otherwise.
   */
  plain(): i32 {
    this.p++;
    const start = this.p;
    this.p = runEnd(this.p, this.end);
    if (this.p < this.end && load<u8>(this.p) == 0x22) { this.p++; return <i32>(this.p - 1 - start); }
    return -1;
  }
  /**
   * A string with escapes, from `start` (the cursor where plain() stopped) past its closing
   * quote; unescaped into `w` when given, as UTF-8 (building strings per escape is quadratic, and
   * tool results are JSON text inside JSON). ESC_FAILED after a parse error; ESC_LONG once the
   * cursor passes `stop` (when not 0).
   */
  escaped(start: usize, w: Writer | null, stop: usize): i32 {
    if (w != null) w.raw(start, <i32>(this.p - start));
    while (this.p < this.end) {
      if (stop != 0 && this.p > stop) return ESC_LONG;
      const c = load<u8>(this.p);
      if (c == 0x22) {
        this.p++;
        return ESC_DONE;
      }
      if (c < 0x20) {
        this.fail("a control character in a string");
        return ESC_FAILED;
      }
      if (c != 0x5c) {
        const from = this.p;
        this.p = runEnd(this.p, this.end);
        if (w != null) w.raw(from, <i32>(this.p - from));
        continue;
      }
      if (this.p + 1 >= this.end) break;
      const e = <u32>load<u8>(this.p + 1);
      if (e == 0x75) {
        let cp = this.hex4(this.p + 2);
        if (cp < 0) { this.fail("invalid \\u escape"); return ESC_FAILED; }
        this.p += 6;
        // A surrogate pair spells one code point in two escapes.
        if (cp >= 0xd800 && cp < 0xdc00 && this.p + 6 <= this.end && load<u8>(this.p) == 0x5c && load<u8>(this.p + 1) == 0x75) {
          const lo = this.hex4(this.p + 2);
          if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            this.p += 6;
          }
        }
        // A lone surrogate has no UTF-8 form: it reads as U+FFFD, as the host's decoder would.
        if (w != null) w.codePoint(cp >= 0xd800 && cp < 0xe000 ? 0xfffd : <u32>cp);
      } else {
        const b = e == 0x6e ? 0x0a : e == 0x74 ? 0x09 : e == 0x72 ? 0x0d : e == 0x62 ? 0x08 : e == 0x66 ? 0x0c
          : e == 0x22 || e == 0x5c || e == 0x2f ? e : 0;
        if (b == 0) { this.fail("invalid escape"); return ESC_FAILED; }
        if (w != null) w.byte(<u8>b);
        this.p += 2;
      }
    }
    this.fail("unterminated string");
    return ESC_FAILED;
  }
  /** Four hex digits at `at`, or -1. */
  hex4(at: usize): i32 {
    if (at + 4 > this.end) return -1;
    let v: i32 = 0;
    for (let i: usize = 0; i < 4; i++) {
      const c = <i32>load<u8>(at + i);
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    return v;
  }
  // An array's elements and an object's members gather on the shared stacks (a nested one above
  // its parent's) and are copied out at the end into arrays of their exact size: grown a push at a
  // time, each array was reallocated as it filled.
  array(): Value {
    this.p++;
    this.ws();
    if (this.peek() == 0x5d) { this.p++; return Value.arr(); }
    const base = stackVals.length;
    while (this.err.length == 0) {
      stackVals.push(this.value());
      this.ws();
      const c = this.peek();
      this.p++;
      if (c == 0x5d) break;
      if (c != 0x2c) { this.fail("expected , or ]"); break; }
    }
    const v = new Value();
    v.kind = Kind.Array;
    v.items = stackVals.slice(base);
    stackVals.length = base;
    return v;
  }
  object(): Value {
    this.p++;
    this.ws();
    if (this.peek() == 0x7d) { this.p++; return Value.obj(); }
    const base = stackVals.length;
    const keyBase = stackKeys.length;
    while (this.err.length == 0) {
      this.ws();
      if (this.peek() != 0x22) { this.fail("expected a key"); break; }
      const key = this.string();
      this.ws();
      if (this.peek() != 0x3a) { this.fail("expected :"); break; }
      this.p++;
      stackKeys.push(key);
      stackVals.push(this.value());
      this.ws();
      const c = this.peek();
      this.p++;
      if (c == 0x7d) break;
      if (c != 0x2c) { this.fail("expected , or }"); break; }
    }
    const v = new Value();
    v.kind = Kind.Object;
    v.keys = stackKeys.slice(keyBase);
    v.vals = stackVals.slice(base);
    stackKeys.length = keyBase;
    stackVals.length = base;
    return v;
  }
}

const PARSER = new Parser();

/** Where a parse gathers the elements and members of the containers it is inside (see array()). */
const stackVals = new Array<Value>(0);
const stackKeys = new Array<string>(0);

/** A parsed string's escaped content (`len` bytes of `src` from `at`), unescaped into UTF-8. */
function unescaped(src: ArrayBuffer, at: i32, len: i32): Writer {
  // From the opening quote, which the span leaves out; the content was checked when parsed.
  const p = PARSER.at(src, at - 1, len + 2);
  const w = new Writer(len > 16 ? len : 16);
  p.plain();
  p.escaped(p.start + 1, w, 0);
  p.release();
  return w;
}

/** Bytes parsed since the last takeParsed(): what parsing made is about in proportion. */
let parsed: usize = 0;

/** Bytes parsed since the last call of this (the SDK's collector schedule, in index.ts). */
export function takeParsed(): usize {
  const n = parsed;
  parsed = 0;
  return n;
}

/** JSON's whitespace: space, tab, line feed, carriage return. */
function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

/** The first byte of `len` at `ptr` after JSON's whitespace; 0 when there is none. */
function firstByte(ptr: usize, len: i32): i32 {
  for (let i = 0; i < len; i++) {
    const c = load<u8>(ptr + <usize>i);
    if (!isSpace(c)) return c;
  }
  return 0;
}

/** Parses `len` bytes of UTF-8 JSON in `src` from `at`; its strings point into `src`. */
function parseIn(src: ArrayBuffer, at: i32, len: i32): Value | null {
  parsed += <usize>len;
  const p = PARSER.at(src, at, len);
  const v = p.value();
  p.ws();
  if (p.p < p.end) p.fail("trailing characters");
  parseError = p.err;
  p.release();
  return p.err.length > 0 ? null : v;
}

/** Parses UTF-8 JSON in memory (copied first: what it parses to points into its own copy); null when it is not JSON (`parseError` says why). */
export function parseBytes(ptr: usize, len: i32): Value | null {
  const src = new ArrayBuffer(len);
  memory.copy(changetype<usize>(src), ptr, len);
  return parseIn(src, 0, len);
}

/** Parses the first `len` bytes of `buf` as UTF-8 JSON, in place; null when it is not JSON. */
export function parseBuffer(buf: ArrayBuffer, len: i32): Value | null {
  return parseIn(buf, 0, len);
}

/** Parses JSON text; null when it is not JSON (`parseError` says why). */
export function parse(s: string): Value | null {
  const bytes = String.UTF8.encode(s);
  return parseIn(bytes, 0, bytes.byteLength);
}
