/**
 * Where the elements of one array lie in a JSON text, found by reading the text, not by building
 * its document: a collection of a megabyte is filtered by slicing its text. Parsing it into a
 * tree cost the gateway more in garbage collection (the tree outgrows the young generation while
 * it is built) than the rest of the call.
 *
 * The text is checked as strictly as JSON.parse checks it (RFC 8259: whitespace, literals,
 * numbers, strings and their escapes, nothing after the value). Anything this reader does not
 * vouch for (invalid JSON, no array at the pointer, a key on the way given twice, nesting past
 * MAX_DEPTH) is `undefined`, and the caller parses the text as before.
 */

/** Deeper than this, the text is left to JSON.parse (no recursion past it here). */
const MAX_DEPTH = 200;

export interface ArraySpans {
  /** The index of the array's `[` and of its `]`. */
  open: number;
  close: number;
  /** Each element's first and past-last index, without the whitespace around it (two lists of numbers: no array an element). */
  starts: number[];
  ends: number[];
}

/** The array at `pointer` (its segments, already unescaped) in `text`, or undefined (see above). */
export function arraySpans(text: string, pointer: readonly string[]): ArraySpans | undefined {
  const n = text.length;
  const target = pointer.length;
  // One loop, the position in a local: readers sharing it through a closure ran at a third of
  // the speed. The containers open around the position, innermost last: whether each is an
  // array, how many of the pointer's segments lead to it (-1: off its way), where it opened, how
  // many elements it has had (arrays), and whether its key on the pointer's way was seen (objects).
  const isArray: boolean[] = [];
  const at: number[] = [];
  const opened: number[] = [];
  const count: number[] = [];
  const seen: boolean[] = [];
  let found: ArraySpans | undefined;
  let i = 0;
  // Where the value being read is on the pointer's way (-1: off it), and whether a key comes first.
  let next = 0;
  let key = false;
  for (;;) {
    i = spaceEnd(text, i);
    if (key) {
      if (text.charCodeAt(i) !== 0x22) return undefined;
      const keyStart = i;
      i = stringEnd(text, i);
      if (i < 0) return undefined;
      const d = isArray.length - 1;
      const a = at[d]!;
      next = -1;
      if (a >= 0 && a < target && keyOf(text, keyStart, i) === pointer[a]) {
        // A key given twice: which one a reader takes is its own choice; left to JSON.parse.
        if (seen[d]) return undefined;
        seen[d] = true;
        next = a + 1;
      }
      i = spaceEnd(text, i);
      if (text.charCodeAt(i) !== 0x3a) return undefined;
      i = spaceEnd(text, i + 1);
      key = false;
    }
    // A value.
    let start = i;
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      if (isArray.length >= MAX_DEPTH) return undefined;
      const array = c === 0x5b;
      if (array && next === target) found = { open: i, close: -1, starts: [], ends: [] };
      i = spaceEnd(text, i + 1);
      if (text.charCodeAt(i) !== (array ? 0x5d : 0x7d)) {
        isArray.push(array);
        at.push(next);
        opened.push(start);
        count.push(0);
        seen.push(false);
        if (array) next = next >= 0 && next < target && pointer[next] === '0' ? next + 1 : -1;
        else key = true;
        continue;
      }
      // Empty: read whole.
      if (array && next === target) found!.close = i;
      i++;
    } else if (c === 0x22) {
      i = stringEnd(text, i);
    } else if (c === 0x74) {
      i = text.startsWith('true', i) ? i + 4 : -1;
    } else if (c === 0x66) {
      i = text.startsWith('false', i) ? i + 5 : -1;
    } else if (c === 0x6e) {
      i = text.startsWith('null', i) ? i + 4 : -1;
    } else {
      i = numberEnd(text, i);
    }
    if (i < 0) return undefined;
    // After a value (a scalar, or a container just closed): what the container around it says next.
    for (;;) {
      const d = isArray.length - 1;
      if (d < 0) return spaceEnd(text, i) === n ? found : undefined;
      const inArray = isArray[d]!;
      const a = at[d]!;
      if (inArray && a === target) {
        found!.starts.push(start);
        found!.ends.push(i);
      }
      i = spaceEnd(text, i);
      const sep = text.charCodeAt(i++);
      if (sep === 0x2c) {
        if (inArray) {
          const index = ++count[d]!;
          next = a >= 0 && a < target && pointer[a] === String(index) ? a + 1 : -1;
        } else key = true;
        break;
      }
      if (sep !== (inArray ? 0x5d : 0x7d)) return undefined;
      if (inArray && a === target) found!.close = i - 1;
      // The container closed: it is the value just read, in the one around it.
      start = opened.pop()!;
      isArray.pop();
      at.pop();
      count.pop();
      seen.pop();
    }
  }
}

/** Past the JSON whitespace at `i`. */
function spaceEnd(text: string, i: number): number {
  for (const n = text.length; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
  }
  return i;
}

/** A run of a string's characters that need no look: no quote, backslash or control character. */
const PLAIN = /[^"\\\u0000-\u001f]*/y;

/** Past the string whose opening quote is at `i`, or -1 for one that is not JSON. */
function stringEnd(text: string, i: number): number {
  for (i++; ; ) {
    PLAIN.lastIndex = i;
    PLAIN.test(text);
    i = PLAIN.lastIndex;
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    // A control character, or the end of the text.
    if (c !== 0x5c) return -1;
    const e = text.charCodeAt(i + 1);
    if (e === 0x75) {
      if (!(isHex(text.charCodeAt(i + 2)) && isHex(text.charCodeAt(i + 3)) && isHex(text.charCodeAt(i + 4)) && isHex(text.charCodeAt(i + 5)))) return -1;
      i += 6;
    } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) i += 2;
    else return -1;
  }
}

/** Past the number at `i` (RFC 8259's grammar), or -1 for one that is not JSON. */
function numberEnd(text: string, i: number): number {
  if (text.charCodeAt(i) === 0x2d) i++;
  if (text.charCodeAt(i) === 0x30) i++;
  else if (isDigit(text.charCodeAt(i))) i = digitsEnd(text, i);
  else return -1;
  if (text.charCodeAt(i) === 0x2e) {
    if (!isDigit(text.charCodeAt(i + 1))) return -1;
    i = digitsEnd(text, i + 1);
  }
  const e = text.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    i++;
    const sign = text.charCodeAt(i);
    if (sign === 0x2b || sign === 0x2d) i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    i = digitsEnd(text, i);
  }
  return i;
}

function digitsEnd(text: string, i: number): number {
  while (isDigit(text.charCodeAt(i))) i++;
  return i;
}

/** An object key's value, from its text (quotes included). */
function keyOf(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end - 1);
  return raw.includes('\\') ? (JSON.parse(text.slice(start, end)) as string) : raw;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}
