import { describe, expect, it } from 'vitest';
import { Cancellation, pause } from '../../src/shared/cancel.ts';

describe('Cancellation', () => {
  it('calls each listener once with the reason, not one removed, and none added after', () => {
    const cancel = new Cancellation();
    const heard: unknown[] = [];
    cancel.onCancel((r) => heard.push(`a ${String(r)}`));
    const off = cancel.onCancel((r) => heard.push(`b ${String(r)}`));
    cancel.onCancel((r) => heard.push(`c ${String(r)}`));
    off();
    cancel.cancel('why');
    cancel.cancel('again');
    cancel.onCancel((r) => heard.push(`late ${String(r)}`));
    expect(heard).toEqual(['a why', 'c why']);
    expect(cancel.cancelled).toBe(true);
    expect(cancel.reason).toBe('why');
  });

  it('pause resolves after its time, and rejects with the given error when cancelled first or already', async () => {
    const quiet = new Cancellation();
    await expect(pause(5, quiet, new Error('no'))).resolves.toBeUndefined();
    const cancel = new Cancellation();
    const waiting = pause(60_000, cancel, new Error('stopped'));
    cancel.cancel();
    await expect(waiting).rejects.toThrow('stopped');
    await expect(pause(1, cancel, new Error('at once'))).rejects.toThrow('at once');
  });
});
