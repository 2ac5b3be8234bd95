export function buildGuards(names?: string[]): Promise<string[]>;
export function buildGuard(name: string, dir: string, language: string): Promise<string>;
