import { closeSync, writeSync } from 'node:fs';
import type { Mode } from '../config/schema.ts';
import { McpgError, fsReason } from '../shared/errors.ts';
import { openAppendOnly } from '../shared/files.ts';
import type { Violation } from '../difc/evaluator.ts';
import type { Labels, Operation } from '../difc/labels.ts';

/**
 * One line per decision, the record a security reviewer reads. Field names are stable;
 * a field is present on every line (null when it does not apply).
 */
export interface AuditRecord {
  /** When the line was written (set by AuditLog.write). */
  time: string;
  /** The call's number in this run: its request and response lines share it. */
  id: number;
  /** `request`: written before anything reaches the backend; `response`: after its answer. */
  stage: 'request' | 'response';
  /** The authenticated agent whose call this is (`stdio` for `mcpg run`). */
  agent: string;
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
  /** The guard's call_backend calls; `refused` when the host answered -1 without calling (a limit). */
  backend_calls: { tool: string; ok: boolean; refused?: string }[];
  reason: string | null;
  /** A forbidden write put to the human (`on_violation = "ask"`): the answer, who gave it, when, what was shown. */
  approval: { answer: 'allow' | 'deny' | 'timeout' | 'unsupported'; by: 'client'; time: string; shown: string } | null;
}

export class AuditLog {
  readonly #fd: number;
  readonly #file: string;
  constructor(file: string) {
    this.#file = file;
    try {
      this.#fd = openAppendOnly(file);
    } catch (err) {
      throw new McpgError('FILE_ACCESS', `cannot open the audit log ${file}: ${fsReason(err)}`);
    }
  }
  /**
   * Written synchronously (in the kernel before the call goes on; not fsynced per line).
   * Returns why the line could not be written, for the caller to fail closed.
   */
  write(record: AuditRecord): string | undefined {
    record.time = new Date().toISOString();
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    try {
      for (let done = 0; done < line.length; ) done += writeSync(this.#fd, line, done);
      return undefined;
    } catch (err) {
      return `the audit log ${this.#file} could not be written (${fsReason(err)}), so the call is refused`;
    }
  }
  close(): void {
    closeSync(this.#fd);
  }
}
