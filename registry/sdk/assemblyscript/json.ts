// A small JSON value for guards: parse the host's input, build and serialise the answer.
// AssemblyScript has no JSON in its standard library.

export const enum Kind { Null, Bool, Number, String, Array, Object }

export class Value {
  kind: Kind = Kind.Null;
  b: bool = false;
  n: f64 = 0;
  s: string = "";
  items: Value[] = [];
  keys: string[] = [];
  vals: Value[] = [];

  static null(): Value { return new Value(); }
  static bool(b: bool): Value { const v = new Value(); v.kind = Kind.Bool; v.b = b; return v; }
  static num(n: f64): Value { const v = new Value(); v.kind = Kind.Number; v.n = n; return v; }
  static str(s: string): Value { const v = new Value(); v.kind = Kind.String; v.s = s; return v; }
  static arr(): Value { const v = new Value(); v.kind = Kind.Array; return v; }
  static obj(): Value { const v = new Value(); v.kind = Kind.Object; return v; }
  static strings(list: string[]): Value {
    const v = Value.arr();
    for (let i = 0; i < list.length; i++) v.items.push(Value.str(list[i]));
    return v;
  }

  get isNull(): bool { return this.kind == Kind.Null; }
  get isString(): bool { return this.kind == Kind.String; }
  get isArray(): bool { return this.kind == Kind.Array; }
  get isObject(): bool { return this.kind == Kind.Object; }

  /** The member `key` of an object, or null. */
  get(key: string): Value | null {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.vals[i];
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
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) { this.vals[i] = v; return this; }
    this.keys.push(key); this.vals.push(v);
    return this;
  }
  push(v: Value): Value { this.items.push(v); return this; }

  toString(): string {
    switch (this.kind) {
      case Kind.Null: return "null";
      case Kind.Bool: return this.b ? "true" : "false";
      case Kind.Number:
        if (isFinite(this.n) && Math.floor(this.n) == this.n && Math.abs(this.n) < 9007199254740992) return (<i64>this.n).toString();
        return isFinite(this.n) ? this.n.toString() : "null";
      case Kind.String: return quote(this.s);
      case Kind.Array: {
        const parts = new Array<string>(this.items.length);
        for (let i = 0; i < this.items.length; i++) parts[i] = this.items[i].toString();
        return "[" + parts.join(",") + "]";
      }
      default: {
        const parts = new Array<string>(this.keys.length);
        for (let i = 0; i < this.keys.length; i++) parts[i] = quote(this.keys[i]) + ":" + this.vals[i].toString();
        return "{" + parts.join(",") + "}";
      }
    }
  }
}

function quote(s: string): string {
  let out = "\"";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22 || c == 0x5c || c < 0x20) {
      out += s.substring(from, i);
      if (c == 0x22) out += "\\\"";
      else if (c == 0x5c) out += "\\\\";
      else if (c == 0x0a) out += "\\n";
      else if (c == 0x0d) out += "\\r";
      else if (c == 0x09) out += "\\t";
      else out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
      from = i + 1;
    }
  }
  return out + s.substring(from) + "\"";
}

class Parser {
  i: i32 = 0;
  constructor(public s: string) {}

  fail(what: string): Value {
    throw new Error("invalid JSON: " + what + " at " + this.i.toString());
  }
  ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) this.i++; else break;
    }
  }
  value(): Value {
    this.ws();
    if (this.i >= this.s.length) return this.fail("unexpected end");
    const c = this.s.charCodeAt(this.i);
    if (c == 0x7b) return this.object();
    if (c == 0x5b) return this.array();
    if (c == 0x22) return Value.str(this.string());
    if (this.s.startsWith("true", this.i)) { this.i += 4; return Value.bool(true); }
    if (this.s.startsWith("false", this.i)) { this.i += 5; return Value.bool(false); }
    if (this.s.startsWith("null", this.i)) { this.i += 4; return Value.null(); }
    return this.number();
  }
  number(): Value {
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if ((c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2b || c == 0x2e || c == 0x65 || c == 0x45) this.i++; else break;
    }
    if (start == this.i) return this.fail("unexpected character");
    return Value.num(parseFloat(this.s.substring(start, this.i)));
  }
  string(): string {
    this.i++;
    let out = "";
    let from = this.i;
    while (true) {
      if (this.i >= this.s.length) { this.fail("unterminated string"); return ""; }
      const c = this.s.charCodeAt(this.i);
      if (c == 0x22) break;
      if (c == 0x5c) {
        out += this.s.substring(from, this.i);
        const e = this.s.charCodeAt(this.i + 1);
        if (e == 0x75) {
          out += String.fromCharCode(<i32>parseInt(this.s.substring(this.i + 2, this.i + 6), 16));
          this.i += 6;
        } else {
          if (e == 0x6e) out += "\n"; else if (e == 0x74) out += "\t"; else if (e == 0x72) out += "\r";
          else if (e == 0x62) out += "\b"; else if (e == 0x66) out += "\f"; else out += String.fromCharCode(e);
          this.i += 2;
        }
        from = this.i;
      } else this.i++;
    }
    out += this.s.substring(from, this.i);
    this.i++;
    return out;
  }
  array(): Value {
    this.i++;
    const v = Value.arr();
    this.ws();
    if (this.s.charCodeAt(this.i) == 0x5d) { this.i++; return v; }
    while (true) {
      v.items.push(this.value());
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c == 0x5d) return v;
      if (c != 0x2c) return this.fail("expected , or ]");
    }
  }
  object(): Value {
    this.i++;
    const v = Value.obj();
    this.ws();
    if (this.s.charCodeAt(this.i) == 0x7d) { this.i++; return v; }
    while (true) {
      this.ws();
      if (this.s.charCodeAt(this.i) != 0x22) return this.fail("expected a key");
      const key = this.string();
      this.ws();
      if (this.s.charCodeAt(this.i++) != 0x3a) return this.fail("expected :");
      v.keys.push(key);
      v.vals.push(this.value());
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c == 0x7d) return v;
      if (c != 0x2c) return this.fail("expected , or }");
    }
  }
}

export function parse(s: string): Value {
  const p = new Parser(s);
  const v = p.value();
  p.ws();
  if (p.i != s.length) p.fail("trailing characters");
  return v;
}
