import { randomFillSync } from 'node:crypto';
import type { Logger } from '../shared/log.ts';

/**
 * wasi_snapshot_preview1 for guards: no preopened directories, no environment, no arguments,
 * an empty stdin, stdout and stderr to the gateway log, clocks and randomness. Every other call
 * answers ENOSYS. (node:wasi is not used: it needs real file descriptors for stdio and prints an
 * experimental warning.)
 */
const ESUCCESS = 0;
const EBADF = 8;
const EINVAL = 28;
const ENOSYS = 52;

export class ProcExit extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`guard called proc_exit(${code})`);
    this.code = code;
  }
}

export function wasiImports(memory: () => WebAssembly.Memory, log: Logger, names: string[]): Record<string, unknown> {
  const view = () => new DataView(memory().buffer);
  const partial = { 1: '', 2: '' } as Record<number, string>;
  const zeroCounts = (countPtr: number, sizePtr: number) => {
    view().setUint32(countPtr, 0, true);
    view().setUint32(sizePtr, 0, true);
    return ESUCCESS;
  };
  const known: Record<string, (...a: never[]) => number> = {
    args_sizes_get: zeroCounts,
    environ_sizes_get: zeroCounts,
    args_get: () => ESUCCESS,
    environ_get: () => ESUCCESS,
    fd_write: (fd: number, iovs: number, count: number, written: number) => {
      if (fd !== 1 && fd !== 2) return EBADF;
      const v = view();
      let total = 0;
      let text = '';
      for (let i = 0; i < count; i++) {
        const ptr = v.getUint32(iovs + i * 8, true);
        const len = v.getUint32(iovs + i * 8 + 4, true);
        text += new TextDecoder().decode(new Uint8Array(memory().buffer, ptr, len));
        total += len;
      }
      const lines = (partial[fd] + text).split('\n');
      partial[fd] = lines.pop() ?? '';
      for (const line of lines) (fd === 2 ? log.warn : log.info)(line);
      v.setUint32(written, total, true);
      return ESUCCESS;
    },
    fd_read: (fd: number, _iovs: number, _count: number, read: number) => {
      if (fd !== 0) return EBADF;
      view().setUint32(read, 0, true);
      return ESUCCESS;
    },
    fd_close: () => ESUCCESS,
    fd_fdstat_get: (fd: number, stat: number) => {
      if (fd > 2) return EBADF;
      const v = view();
      v.setUint8(stat, 2); // character device
      v.setUint16(stat + 2, 0, true);
      v.setBigUint64(stat + 8, 0n, true);
      v.setBigUint64(stat + 16, 0n, true);
      return ESUCCESS;
    },
    fd_prestat_get: () => EBADF,
    fd_prestat_dir_name: () => EBADF,
    clock_res_get: (_id: number, res: number) => {
      view().setBigUint64(res, 1000n, true);
      return ESUCCESS;
    },
    clock_time_get: (id: number, _precision: bigint, time: number) => {
      if (id > 3) return EINVAL;
      const ns = id === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint();
      view().setBigUint64(time, ns, true);
      return ESUCCESS;
    },
    random_get: (ptr: number, len: number) => {
      randomFillSync(new Uint8Array(memory().buffer, ptr, len));
      return ESUCCESS;
    },
    sched_yield: () => ESUCCESS,
    proc_exit: (code: number) => {
      throw new ProcExit(code);
    },
  };
  return Object.fromEntries(names.map((n) => [n, known[n] ?? (() => ENOSYS)]));
}
