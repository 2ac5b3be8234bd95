import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditRecord } from '../proxy/audit.ts';

/**
 * Prometheus metrics of `mcpg serve` (`GET /metrics`): calls by server, tool and decision, items
 * withheld, the guards' and the servers' time, sessions, and the shared state's errors. Labels
 * name servers, tools and guards (the config's words), never an agent or anything of the data.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #calls = new Counter({ name: 'mcpg_calls_total', help: 'Calls decided, by server, tool (or method) and decision', labelNames: ['server', 'tool', 'decision'], registers: [this.registry] });
  readonly #withheld = new Counter({ name: 'mcpg_withheld_items_total', help: 'Items withheld from responses', labelNames: ['server', 'tool'], registers: [this.registry] });
  readonly #guard = new Histogram({ name: 'mcpg_guard_seconds', help: "Time in a guard's label_resource and label_response", labelNames: ['server', 'guard', 'stage'], buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1], registers: [this.registry] });
  readonly #backend = new Histogram({ name: 'mcpg_backend_seconds', help: 'Time from a request sent to a server to its answer', labelNames: ['server', 'method'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [this.registry] });
  readonly #stateErrors = new Counter({ name: 'mcpg_state_errors_total', help: "Requests refused because the shared state could not be reached (an agent's calls, a server's requests to an agent)", registers: [this.registry] });

  constructor(sessions: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: 'mcpg_' });
    const registers = [this.registry];
    new Gauge({ name: 'mcpg_sessions', help: 'MCP sessions open (older protocol)', registers, collect() {
      this.set(sessions());
    } });
  }

  /** One audit line: a call's final decision (its response line, or a request line that ended it). */
  decided(record: AuditRecord): void {
    if (record.stage === 'request' && record.decision === 'allow') return;
    this.#calls.inc({ server: record.server, tool: record.tool, decision: record.decision });
    if (record.items?.withheld) this.#withheld.inc({ server: record.server, tool: record.tool }, record.items.withheld);
  }

  guard(server: string, guard: string, stage: 'label_resource' | 'label_response', seconds: number): void {
    this.#guard.observe({ server, guard, stage }, seconds);
  }

  backend(server: string, method: string, seconds: number): void {
    this.#backend.observe({ server, method }, seconds);
  }

  stateError(): void {
    this.#stateErrors.inc();
  }
}
