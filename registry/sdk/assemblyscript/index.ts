// The mcpg guard SDK for AssemblyScript: ABI plumbing, labels, backend calls and logging.
// A guard author writes labelAgent, labelResource and labelResponse; the build adds the exports.
import { Kind, Value, Writer, parseBuffer, parseBytes, parseError, takeParsed } from "./json";
export { MAX_DEPTH, Value, parse, parseBytes, parseError } from "./json";

// @ts-ignore: decorator
@external("env", "call_backend")
declare function call_backend(toolPtr: usize, toolLen: i32, argsPtr: usize, argsLen: i32, resPtr: usize, resSize: i32): i32;
// @ts-ignore: decorator
@external("env", "host_log")
declare function host_log(level: i32, ptr: usize, len: i32): void;

export const READ = "read";
export const WRITE = "write";
export const READ_WRITE = "read-write";

// The answers below are written as JSON at once (Value.written), not built as trees of values:
// a label call's answer was a third of the allocations it made. Written, they cannot be changed
// afterwards; a guard that wants another shape builds it with Value.obj().

/** The members of a labels object: "secrecy":[...],"integrity":[...]. */
function writeLabels(w: Writer, secrecy: string[], integrity: string[]): void {
  w.ascii('"secrecy":');
  w.strings(secrecy);
  w.ascii(',"integrity":');
  w.strings(integrity);
}

/** Secrecy and integrity tags as the ABI spells them. */
export function labels(secrecy: string[], integrity: string[]): Value {
  const w = new Writer(64);
  w.byte(0x7b);
  writeLabels(w, secrecy, integrity);
  w.byte(0x7d);
  return Value.written(w);
}

/** The answer of label_agent. */
export function agent(secrecy: string[], integrity: string[]): Value {
  const w = new Writer(64);
  w.ascii('{"agent":{');
  writeLabels(w, secrecy, integrity);
  w.ascii("}}");
  return Value.written(w);
}

/**
 * The answer of label_resource. With `wholeResponse`, the response takes these labels too,
 * whatever it holds: mcpg then does not ask label_response (nor copy the response into the
 * guard). Hosts that do not know it ask anyway, so label_response must answer the same (null).
 */
export function resource(description: string, secrecy: string[], integrity: string[], operation: string, wholeResponse: bool = false): Value {
  const w = new Writer(120 + description.length);
  w.ascii('{"resource":{');
  writeLabels(w, secrecy, integrity);
  w.ascii(',"description":');
  w.string(description);
  w.ascii('},"operation":');
  w.string(operation);
  if (wholeResponse) w.ascii(',"response":"resource"');
  w.byte(0x7d);
  return Value.written(w);
}

/** One labeled element of a collection, `data` as it is now: for items(...). */
export function item(data: Value, secrecy: string[], integrity: string[]): Value {
  const w = new Writer(128);
  w.ascii('{"data":');
  w.value(data);
  w.ascii(',"labels":{');
  writeLabels(w, secrecy, integrity);
  w.ascii("}}");
  return Value.written(w);
}

/** The answer of label_response that gives the collection's items, each with its labels. */
export function items(list: Value[]): Value {
  const arr = Value.arr();
  for (let i = 0; i < list.length; i++) arr.push(list[i]);
  return Value.obj().set("items", arr);
}

/**
 * Labels for the value a JSON pointer points to: for labeledPaths(...). Written as JSON at once
 * (a collection has thousands of these, and each as a tree of values cost twenty allocations).
 */
export function labeledPath(path: string, secrecy: string[], integrity: string[]): Value {
  const w = new Writer(64 + path.length);
  w.ascii('{"path":');
  w.string(path);
  w.ascii(',"labels":{"secrecy":');
  w.strings(secrecy);
  w.ascii(',"integrity":');
  w.strings(integrity);
  w.ascii("}}");
  return Value.written(w);
}

/** The answer of label_response that labels items by JSON pointer under itemsPath. */
export function labeledPaths(itemsPath: string, paths: Value[]): Value {
  const arr = Value.arr();
  for (let i = 0; i < paths.length; i++) arr.push(paths[i]);
  return Value.obj().set("labeled_paths", arr).set("items_path", Value.str(itemsPath));
}

/** FNV-1a over a written value's bytes: which labels repeat (equal bytes are then compared whole). */
function writtenHash(v: Value): u32 {
  let h: u32 = 0x811c9dc5;
  const at = v.writtenAt();
  for (let i = 0, n = v.writtenLength(); i < n; i++) h = (h ^ load<u8>(at + i)) * 0x01000193;
  return h;
}

function sameWritten(a: Value, b: Value): bool {
  if (a == b) return true;
  const n = a.writtenLength();
  return n == b.writtenLength() && memory.compare(a.writtenAt(), b.writtenAt(), n) == 0;
}

/**
 * The answer of label_response that labels every item of the collection at itemsPath: item i
 * with each[i], made by labels(...). Written small: the labels most items have once, as
 * default_labels, and a labeled path for each item whose labels differ. The gateway gives an item
 * with no path the default labels, so this says the same as a path for every item, in a tenth of
 * the bytes when one item in ten differs (a megabyte's collection answered 730 KB that way).
 */
export function labeledItems(itemsPath: string, each: Value[]): Value {
  // The most common labels, by a hash of their bytes; a collision only lists more paths.
  const counts = new Map<u32, i32>();
  let common = -1;
  let best = 0;
  let last: Value | null = null;
  let lastHash: u32 = 0;
  for (let i = 0; i < each.length; i++) {
    if (each[i].kind != Kind.Written) continue;
    // The same labels value as the one before (a guard that keeps its common labels) is not hashed again.
    const h = each[i] == last ? lastHash : writtenHash(each[i]);
    last = each[i];
    lastHash = h;
    const c = counts.has(h) ? counts.get(h) + 1 : 1;
    counts.set(h, c);
    if (c > best) { best = c; common = i; }
  }
  const w = new Writer(256);
  w.ascii('{"labeled_paths":[');
  let first = true;
  for (let i = 0; i < each.length; i++) {
    if (common >= 0 && each[i].kind == Kind.Written && sameWritten(each[i], each[common])) continue;
    if (!first) w.byte(0x2c);
    first = false;
    w.ascii('{"path":');
    w.string(itemsPath + "/" + i.toString());
    w.ascii(',"labels":');
    w.value(each[i]);
    w.byte(0x7d);
  }
  w.byte(0x5d);
  if (common >= 0) {
    w.ascii(',"default_labels":');
    w.value(each[common]);
  }
  w.ascii(',"items_path":');
  w.string(itemsPath);
  w.byte(0x7d);
  return Value.written(w);
}

// Why the current call is denied; the handler's answer is discarded when this is set.
let denial: string | null = null;

/** Denies this call (fail closed) with a message that says why; return it from the handler. */
export function deny(message: string): Value | null {
  if (denial == null) denial = message;
  return null;
}

/**
 * A string field the guard cannot label without. Missing or not a string, the call is denied
 * with a message naming the field, whatever the handler then answers; the value read is "".
 */
export function requireStr(obj: Value | null, key: string): string {
  const v = obj != null ? obj.get(key) : null;
  if (v == null) {
    deny("missing required field " + key);
    return "";
  }
  if (!v.isString) {
    deny("field " + key + " is not a string");
    return "";
  }
  return v.s;
}

/**
 * Where what the guard sends the host (a log line, a backend call's tool and arguments) is
 * written: one buffer, reused, instead of a new one for each (kept small after a large one).
 */
const SENT = new Writer(1024);

function sent(): usize {
  return changetype<usize>(SENT.buf);
}

function doneSending(): void {
  SENT.len = 0;
  if (SENT.buf.byteLength > 65536) SENT.buf = new ArrayBuffer(1024);
}

/** Log through the gateway: 0 debug, 1 info, 2 warn, 3 error. */
export function log(level: i32, message: string): void {
  SENT.utf8(message, 0, message.length);
  host_log(level, sent(), SENT.len);
  doneSending();
}

/**
 * Where call_backend's answers land: one buffer for every answer that fits, parsed from a copy of
 * its own size (a buffer per call was 64 KiB of garbage a call); a larger answer gets its own.
 */
const RECEIVED = new ArrayBuffer(65536);

/** Calls a tool on the guard's own backend; null when the call fails, is refused or is not JSON. */
export function callBackend(tool: string, args: Value): Value | null {
  SENT.utf8(tool, 0, tool.length);
  const toolLen = SENT.len;
  SENT.value(args);
  const argsLen = SENT.len - toolLen;
  let res = RECEIVED;
  let answer: Value | null = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    const n = call_backend(sent(), toolLen, sent() + <usize>toolLen, argsLen, changetype<usize>(res), res.byteLength);
    if (n >= 0) answer = res == RECEIVED ? parseBytes(changetype<usize>(res), n) : parseBuffer(res, n);
    if (n != -2) break;
    res = new ArrayBuffer(<i32>load<u32>(changetype<usize>(res)));
  }
  doneSending();
  return answer;
}

/**
 * The document of an MCP tool result, as the gateway finds it to label its items: the first text
 * block when it is a JSON object or array, else the structured content when it is an object;
 * else null (never an abort). The parser reads JSON as strictly as the gateway's JSON.parse, so
 * both take the same document (a text nested deeper than MAX_DEPTH aside, which the gateway
 * withholds beside structured content).
 */
export function resultJson(result: Value): Value | null {
  const content = result.get("content");
  const first = content != null && content.isArray && content.items.length > 0 ? content.items[0] : null;
  const text = first != null && first.isObject && first.str("type") == "text" ? first.get("text") : null;
  if (text != null && text.isString) {
    // Parsed from its UTF-8 bytes (unescaped once): a long text is never decoded into a string.
    const doc = text.parseJson(true);
    if (doc != null) return doc;
  }
  const structured = result.get("structuredContent");
  return structured != null && structured.isObject ? structured : null;
}

// ---- ABI plumbing: used by the exports the build generates.

export function alloc(size: i32): usize {
  const buf = new ArrayBuffer(size);
  const ptr = changetype<usize>(buf);
  __pin(ptr);
  hostBytes += <usize>size;
  return ptr;
}

export function dealloc(ptr: usize, size: i32): void {
  __unpin(ptr);
  hostBytes -= <usize>size;
}

// Guards are built with AssemblyScript's minimal runtime: no collector steps while a call
// allocates (they were half the time of labeling a 1 MB response), and collections between calls,
// when nothing of a call is referenced any more. Memory is capped, and a guard that only ever grew
// would hit the cap. What a call leaves is about what it parsed (its input, backend answers,
// texts) and CALL_COST besides (its answer, its labels, the strings it made): a collection follows
// the calls that left about GARBAGE_BUDGET since the last one, so the heap stays small (used again
// while it is in the CPU's cache) and small calls are collected once per hundred or so, not after
// each. A heap past COLLECT_BYTES (a guard that allocates far more than that, or after a large
// call) is collected after every call. The host's call buffers (4 MiB and more, from alloc) are
// not heap a collection could free: they are left out.
const GARBAGE_BUDGET: usize = 1 << 20;
const CALL_COST: usize = 8 << 10;
const COLLECT_BYTES: usize = 8 << 20;
let hostBytes: usize = 0;
let leftSince: usize = 0;

/** Runs a handler on the JSON input and writes its answer (or asks for a bigger buffer). */
export function handle(inPtr: usize, inLen: i32, outPtr: usize, outSize: i32, handler: (input: Value) => Value | null): i32 {
  const rc = answer(inPtr, inLen, outPtr, outSize, handler);
  leftSince += takeParsed() + CALL_COST;
  if (leftSince > GARBAGE_BUDGET || (<usize>memory.size() << 16) - hostBytes > COLLECT_BYTES) {
    __collect();
    leftSince = 0;
  }
  return rc;
}

function answer(inPtr: usize, inLen: i32, outPtr: usize, outSize: i32, handler: (input: Value) => Value | null): i32 {
  const input = parseBytes(inPtr, inLen);
  // Input the guard cannot read is an error answer: mcpg denies this call, and only this call.
  if (input == null) {
    log(3, "input is not JSON the guard can read: " + parseError);
    return -1;
  }
  denial = null;
  const answer = handler(input);
  if (denial != null) {
    log(3, denial!);
    return -1;
  }
  if (answer == null) return 0;
  // A written answer (resource(), agent(), ...) is copied out as it lies.
  let at = answer.writtenAt();
  let len = answer.writtenLength();
  const out = at == 0 ? answer.toBytes() : null;
  if (out != null) {
    at = changetype<usize>(out);
    len = out.byteLength;
  }
  if (len > outSize) {
    if (outSize >= 4) store<u32>(outPtr, len);
    return -2;
  }
  memory.copy(outPtr, at, len);
  return len;
}
