import { closeSync, openSync, writeSync } from 'node:fs';
import type { Mode } from '../config/schema.ts';
import type { Violation } from '../difc/evaluator.ts';
import type { Labels, Operation } from '../difc/labels.ts';

/**
 * One line per decision, the record a security reviewer reads. Field names are stable;
 * a field is present on every line (null when it does not apply).
 */
export interface AuditRecord {
  time: string;
  server: string;
  guard: string;
  mode: Mode;
  method: string;
  tool: string;
  operation: Operation | null;
  resource: (Labels & { description: string }) | null;
  agent_before: Labels;
  agent_after: Labels;
  decision: 'allow' | 'filter' | 'deny' | 'error';
  violations: Violation[];
  items: { total: number; withheld: number } | null;
  backend_calls: { tool: string; ok: boolean }[];
  reason: string | null;
}

export class AuditLog {
  readonly #fd: number;
  constructor(file: string) {
    this.#fd = openSync(file, 'a');
  }
  // Written synchronously: a decision is on disk before its answer reaches the agent.
  write(record: AuditRecord): void {
    writeSync(this.#fd, `${JSON.stringify(record)}\n`);
  }
  close(): void {
    closeSync(this.#fd);
  }
}
