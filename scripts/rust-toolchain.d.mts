export function rustToolchain(): { cargo: string; env: Record<string, string> };
export function buildRust(dir: string, target: string): Promise<void>;
export function testRust(dir: string): string;
export const RUST_FRESH: RegExp;
export function rustPlan(status: string): string[];
