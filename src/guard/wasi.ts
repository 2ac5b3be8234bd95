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
const ENOTSUP = 58;

/** The WASI calls that wait: the host runs them suspending the guest (JSPI). */
export const ASYNC_WASI = ['poll_oneoff'];
/** What is kept of one line a guest writes to stdout or stderr. */
const LINE = 4096;
/** A guest cannot ask for a longer sleep than this in one call (its deadline ends it sooner). */
const MAX_SLEEP_MS = 600_000;

export class ProcExit extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`guard called proc_exit(${code})`);
    this.code = code;
  }
}

export function wasiImports(
  memory: () => WebAssembly.Memory,
  log: Logger,
  names: string[],
  sleep: (ms: number) => Promise<void>,
  /** Prices a call that moves this many bytes (fuel, and the call's deadline); throws past either. */
  charge: (bytes: number) => void,
): Record<string, unknown> {
  const view = () => new DataView(memory().buffer);
  /** The unfinished line on stdout and stderr: cut at LINE, so it stays inside a small bound. */
  const partial = { 1: '', 2: '' } as Record<number, string>;
  const zeroCounts = (countPtr: number, sizePtr: number) => {
    view().setUint32(countPtr, 0, true);
    view().setUint32(sizePtr, 0, true);
    return ESUCCESS;
  };
  /**
   * poll_oneoff: clock subscriptions sleep (Rust's thread::sleep, Go's time.Sleep), fd ones are
   * answered "not supported" at once. Subscriptions are 48 bytes, events 32 (wasi-libc).
   */
  const pollOneoff = async (inPtr: number, outPtr: number, count: number, neventsPtr: number): Promise<number> => {
    const v = view();
    const clocks: { userdata: bigint; ms: number }[] = [];
    const fds: bigint[] = [];
    for (let i = 0; i < count; i++) {
      const at = inPtr + i * 48;
      const userdata = v.getBigUint64(at, true);
      const tag = v.getUint8(at + 8);
      if (tag !== 0) {
        fds.push(userdata);
        continue;
      }
      const clock = v.getUint32(at + 16, true);
      const timeout = v.getBigUint64(at + 24, true);
      const absolute = (v.getUint16(at + 40, true) & 1) === 1;
      const now = clock === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint();
      const ns = absolute ? timeout - now : timeout;
      clocks.push({ userdata, ms: Math.min(MAX_SLEEP_MS, Math.max(0, Number(ns / 1_000_000n))) });
    }
    const events: { userdata: bigint; error: number; type: number }[] = fds.map((userdata) => ({ userdata, error: ENOTSUP, type: 1 }));
    if (!events.length && clocks.length) {
      const ms = Math.min(...clocks.map((c) => c.ms));
      await sleep(ms);
      for (const c of clocks) if (c.ms <= ms) events.push({ userdata: c.userdata, error: ESUCCESS, type: 0 });
    }
    // The memory may have grown while the guest slept.
    const out = view();
    events.forEach((e, i) => {
      const at = outPtr + i * 32;
      out.setBigUint64(at, e.userdata, true);
      out.setUint16(at + 8, e.error, true);
      out.setUint8(at + 10, e.type);
      out.setBigUint64(at + 16, 0n, true);
      out.setUint16(at + 24, 0, true);
    });
    out.setUint32(neventsPtr, events.length, true);
    return count === 0 ? EINVAL : ESUCCESS;
  };
  const known: Record<string, (...a: never[]) => number | Promise<number>> = {
    poll_oneoff: pollOneoff,
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
        charge(len);
        // Only what can still be kept of a line is decoded: the rest is cut.
        const room = Math.max(0, LINE * 2 - text.length);
        text += new TextDecoder().decode(new Uint8Array(memory().buffer, ptr, Math.min(len, room)));
        if (len > room) text += '\n';
        total += len;
      }
      const lines = (partial[fd] + text).split('\n');
      partial[fd] = (lines.pop() ?? '').slice(0, LINE);
      for (const line of lines) (fd === 2 ? log.warn : log.info)(line.slice(0, LINE));
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
      charge(len);
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
