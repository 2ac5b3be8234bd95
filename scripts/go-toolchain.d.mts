export const GOROOT: string;
export function runGo(dir: string, args: string[], options?: { native?: boolean; proxy?: string }): Promise<string>;
export function buildGo(dir: string, target: string, options?: { proxy?: string }): Promise<void>;
