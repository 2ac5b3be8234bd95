import type { StdioOptions } from 'node:child_process';
export const GOROOT: string;
export function runGo(dir: string, args: string[], options?: { native?: boolean; stdio?: StdioOptions }): string | null;
export function buildGo(dir: string, target: string): Promise<void>;
