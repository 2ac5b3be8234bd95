export function buildGuards(names?: string[]): Promise<string[]>;
