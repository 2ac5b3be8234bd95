import { describe, expect, it } from 'vitest';
import { guardPolicy } from '../../src/guard/policy.ts';
import { McpgError } from '../../src/shared/errors.ts';

const refused = (policy: unknown): string => {
  try {
    guardPolicy('gh', policy);
  } catch (err) {
    expect(err).toBeInstanceOf(McpgError);
    return (err as McpgError).message;
  }
  throw new Error('accepted');
};

describe('guard policies, checked as gh-aw-mcpg checks them', () => {
  it('parses a policy given as a JSON string, and normalises allow-only', () => {
    expect(guardPolicy('gh', '{"allow-only":{"repos":"PUBLIC","min-integrity":" Approved "}}')).toEqual({ 'allow-only': { repos: 'public', 'min-integrity': 'approved' } });
    expect(guardPolicy('gh', { 'allow-only': { repos: ['Octo/B*', 'octo/a'], 'min-integrity': 'none', 'refusal-labels': 'wontfix, spam\nstale' } })).toEqual({
      'allow-only': { repos: ['octo/a', 'octo/b*'], 'min-integrity': 'none', 'refusal-labels': ['wontfix', 'spam', 'stale'] },
    });
  });

  it('hands the aliases to the guard under the names its guards read, and refuses both at once', () => {
    expect(guardPolicy('gh', { allowonly: { repos: 'public', integrity: 'merged' } })).toEqual({ 'allow-only': { repos: 'public', 'min-integrity': 'merged' } });
    expect(refused({ allowonly: { repos: 'public', integrity: 'none' }, 'allow-only': { repos: 'public', integrity: 'none' } })).toBe('guard "gh": policy.allowonly: is another name for allow-only: give one of them');
    expect(refused({ 'allow-only': { repos: 'public', integrity: 'none', 'min-integrity': 'none' } })).toBe('guard "gh": policy.allow-only.integrity: is another name for min-integrity: give one of them');
  });

  it('passes the policies of other guards as they are', () => {
    expect(guardPolicy('g', { allow: ['x'] })).toEqual({ allow: ['x'] });
    expect(guardPolicy('g', undefined)).toEqual({});
  });

  it('names the field and what it expects', () => {
    expect(refused('not json')).toBe('guard "gh": policy: a policy given as a string must be a JSON object');
    expect(refused('[1]')).toBe('guard "gh": policy: a policy given as a string must be a JSON object');
    expect(refused({ 'allow-only': { repos: 'public' } })).toBe('guard "gh": policy.allow-only.min-integrity: required: one of none, unapproved, approved, merged');
    expect(refused({ 'allow-only': { repos: 'mine', 'min-integrity': 'none' } })).toBe('guard "gh": policy.allow-only.repos: a string must be "all" or "public"');
    expect(refused({ 'allow-only': { repos: ['octo'], 'min-integrity': 'none' } })).toMatch(/policy\.allow-only\.repos: scope "octo" is invalid/);
    expect(refused({ 'allow-only': { repos: ['all', 'o/r'], 'min-integrity': 'none' } })).toMatch(/"all" cannot be combined/);
    expect(refused({ 'allow-only': { repos: 'all', 'min-integrity': 'contributor' } })).toBe('guard "gh": policy.allow-only.min-integrity: must be one of: none, unapproved, approved, merged');
    expect(refused({ 'allow-only': { repos: 'all', 'min-integrity': 'none', colour: 'red' } })).toBe('guard "gh": policy.allow-only.colour: unknown key');
    expect(refused({ 'allow-only': { repos: 'all', 'min-integrity': 'none', 'blocked-users': 'bob' } })).toMatch(/blocked-users: expected a list of strings/);
    expect(refused({ 'allow-only': { repos: 'all', 'min-integrity': 'none' }, 'trusted-bots': [] })).toMatch(/trusted-bots: must be a non-empty list/);
    expect(refused({ policy: { 'allow-only': {} } })).toMatch(/remove the legacy "policy" envelope/);
  });
});
