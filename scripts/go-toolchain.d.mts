export const GOROOT: string;
export function goToolchain(): string;
export function buildGo(dir: string, target: string): Promise<void>;
