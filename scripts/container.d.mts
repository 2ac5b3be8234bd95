export function containerContext(options?: { binary?: string; out?: string }): string;
export function buildah(): Promise<{ bin: string; policy: string[]; env: NodeJS.ProcessEnv }>;
export function buildImage(context?: string): Promise<string>;
