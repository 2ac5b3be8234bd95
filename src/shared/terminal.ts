/**
 * Text from outside (a server's stderr, tool names, error messages, config values) on its way to
 * a terminal: control characters are escaped (`\u001b`), so no one but mcpg moves the cursor,
 * rewrites a line (CR), rings the bell, sets the clipboard (OSC 52) or forges a line of mcpg's
 * log (LF). Bidirectional overrides are escaped too (they reorder what a reader sees). The
 * escape is also valid inside a JSON string.
 */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One line: every control character escaped, newlines included. */
export function printableLine(text: string): string {
  return text.replace(CONTROLS, escape);
}

/** Several lines: newlines and tabs kept, every other control character escaped. */
export function printable(text: string): string {
  return text.replace(CONTROLS_BUT_LINES, escape);
}
