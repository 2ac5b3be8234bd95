export const GO_MODULE: string;
export const NPM_PACKAGE: string;
export const SDK_VERSION: string;
export const NPM_TARBALL_PATH: string;
export function packAssemblyScriptSdk(dir: string): { file: string; integrity: string };
export function goModule(): { version: string; mod: Buffer; zip: Buffer; sum: string };
