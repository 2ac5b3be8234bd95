export function buildGuards(names?: string[]): Promise<string[]>;
export function buildAssemblyScript(name: string, dir: string, target: string): Promise<void>;
