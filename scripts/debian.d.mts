export function withoutPackages(status: string, fresh: RegExp): string;
export function planDebian(options: { base: string; suite: string; packages: string[]; fresh?: RegExp; status?: string }): string[];
export function fetchDebian(options: { base: string; suite: string; packages: string[]; dependencies?: boolean; fresh?: RegExp; what: string }): string;
export function aptOptions(base: string, suite: string): string[];
