// The token store reads a server's record on every request to it (the OAuth provider asks for
// its tokens each time): a record read before is given again while its file is unchanged, and
// read afresh when another process (`mcpg auth login`) replaced it.
import { describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/store.ts';
import { tempDir } from '../helpers/mcpg.ts';

describe('the token store', () => {
  it('reads a record again once another process replaced it, and hands out copies of what it remembers', () => {
    const dir = tempDir();
    const gateway = new TokenStore(dir);
    const login = new TokenStore(dir);
    expect(gateway.load('notes', 'https://notes.example/mcp')).toEqual({ server: 'notes', url: 'https://notes.example/mcp' });
    login.save({ server: 'notes', url: 'https://notes.example/mcp', tokens: { access_token: 'first', token_type: 'Bearer' } });
    expect(gateway.load('notes', 'https://notes.example/mcp').tokens?.access_token).toBe('first');
    // A caller's change to what it was given is not the store's.
    gateway.load('notes', 'https://notes.example/mcp').tokens!.access_token = 'changed';
    expect(gateway.load('notes', 'https://notes.example/mcp').tokens?.access_token).toBe('first');
    // The same size, at once: the replaced file is another file.
    login.save({ server: 'notes', url: 'https://notes.example/mcp', tokens: { access_token: 'other', token_type: 'Bearer' } });
    expect(gateway.load('notes', 'https://notes.example/mcp').tokens?.access_token).toBe('other');
  });
});
