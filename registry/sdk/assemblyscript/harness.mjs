// Native tests for a guard, in Node: loads the built guard.wasm with a fake backend and calls its
// ABI functions the way mcpg does (input in, answer out, -2 asks for a bigger buffer), so a
// guard's tests need no gateway. mcpg itself (`mcpg guard test`) is the reference host.
import { readFile } from 'node:fs/promises';

const LEVEL_ERROR = 3;

export class GuardError extends Error {
  constructor(fn, code, logs) {
    const said = logs.filter((l) => l.level >= 2).map((l) => l.message);
    super(`${fn} returned error code ${code}${said.length ? `: ${said.join('; ')}` : ''}`);
    this.name = 'GuardError';
    this.code = code;
  }
}

export async function loadGuard(wasm, { backend = {} } = {}) {
  const bytes = typeof wasm === 'string' || wasm instanceof URL ? await readFile(wasm) : wasm;
  const logs = [];
  const utf8 = new TextDecoder();
  const encode = (v) => new TextEncoder().encode(JSON.stringify(v));
  let memory;
  const text = (ptr, len) => utf8.decode(new Uint8Array(memory.buffer, ptr, len));
  // AssemblyScript strings for abort(): length (bytes) at ptr - 4, UTF-16 code units.
  const asString = (ptr) => (ptr ? String.fromCharCode(...new Uint16Array(memory.buffer, ptr, new Uint32Array(memory.buffer, ptr - 4, 1)[0] / 2)) : '');
  const write = (bytes, ptr, size) => {
    if (bytes.length > size) {
      if (size >= 4) new DataView(memory.buffer).setUint32(ptr, bytes.length, true);
      return -2;
    }
    new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
    return bytes.length;
  };
  const env = {
    host_log(level, ptr, len) {
      logs.push({ level, message: text(ptr, len) });
    },
    call_backend(toolPtr, toolLen, argsPtr, argsLen, outPtr, outSize) {
      const answer = backend[text(toolPtr, toolLen)];
      const result = typeof answer === 'function' ? answer(JSON.parse(text(argsPtr, argsLen))) : answer;
      return result === undefined ? -1 : write(encode(result), outPtr, outSize);
    },
    abort(msg, file, line, col) {
      logs.push({ level: LEVEL_ERROR, message: `abort: ${asString(msg)} at ${asString(file)}:${line}:${col}` });
      throw new Error(`the guard aborted: ${asString(msg)}`);
    },
  };
  const { instance } = await WebAssembly.instantiate(bytes, { env });
  const x = instance.exports;
  memory = x.memory;
  x._initialize?.();

  const call = (fn) => (input) => {
    const from = logs.length;
    const data = encode(input);
    const inPtr = x.alloc(data.length);
    new Uint8Array(memory.buffer, inPtr, data.length).set(data);
    let size = 64 * 1024;
    for (;;) {
      const outPtr = x.alloc(size);
      const n = x[fn](inPtr, data.length, outPtr, size);
      const needed = n === -2 ? new DataView(memory.buffer).getUint32(outPtr, true) : 0;
      const answer = n > 0 ? JSON.parse(text(outPtr, n)) : null;
      x.dealloc(outPtr, size);
      if (n === -2 && needed > size) {
        size = needed;
        continue;
      }
      x.dealloc(inPtr, data.length);
      if (n < 0) throw new GuardError(fn, n, logs.slice(from));
      return answer;
    }
  };
  return { labelAgent: call('label_agent'), labelResource: call('label_resource'), labelResponse: call('label_response'), logs };
}
