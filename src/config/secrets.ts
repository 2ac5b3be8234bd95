/** Keys whose values are secrets (tokens, passwords, keys), by name: never shown, never copied. */
export const SECRET_KEY = /token|secret|password|passwd|credential|api[-_]?key|authorization|cookie|private[-_]?key/i;

/** A whole `${VAR}` reference (a value that names its secret instead of holding it). */
export const REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
