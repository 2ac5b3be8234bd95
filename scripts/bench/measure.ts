// What every section of `npm run bench` measures with: the calls' arguments and the statistics.

/** A tools/call's arguments: about 200 bytes on the wire. */
export const ARGS = { message: 'x'.repeat(160), n: 42 };

/** The p-th percentile of `xs` (not sorted in place). */
export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Nanoseconds in microseconds, to a tenth. */
export const us = (ns: number) => Math.round(ns / 100) / 10;
