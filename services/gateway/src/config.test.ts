import { ConfigError, parseConfig } from '@pep/service-kit';
import { describe, expect, it } from 'vitest';
import { configSchema, corsOriginsOf } from './config.js';

const required = { INTERNAL_AUTH_SECRET: 's'.repeat(40), KAFKA_BROKERS: '127.0.0.1:9092', UPSTREAMS: 'auth=http://auth:8080' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(configSchema, env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

describe('gateway configuration', () => {
  it('refuses to start in production without CORS_ORIGINS, naming it and what to set', () => {
    const problems = problemsOf({ ...required, NODE_ENV: 'production' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CORS_ORIGINS: set CORS_ORIGINS in production: the origins of the web apps/);
  });

  it('takes a list of origins in production, and * only when set so', () => {
    const listed = parseConfig(configSchema, {
      ...required,
      NODE_ENV: 'production',
      CORS_ORIGINS: 'https://app.example.com, https://admin.example.com:8443/',
    });
    expect(corsOriginsOf(listed)).toEqual(['https://app.example.com', 'https://admin.example.com:8443']);
    const any = parseConfig(configSchema, { ...required, NODE_ENV: 'production', CORS_ORIGINS: '*' });
    expect(corsOriginsOf(any)).toBe('*');
  });

  it('allows any origin by default outside production', () => {
    expect(corsOriginsOf(parseConfig(configSchema, { ...required }))).toBe('*');
    expect(corsOriginsOf(parseConfig(configSchema, { ...required, NODE_ENV: 'test' }))).toBe('*');
  });

  it('refuses an origin with a path or without a scheme', () => {
    for (const value of ['https://app.example.com/app', 'app.example.com', 'https://app.example.com,*', 'ftp://files.example.com']) {
      const problems = problemsOf({ ...required, CORS_ORIGINS: value });
      expect(problems, value).toEqual([
        'CORS_ORIGINS: must be * or a comma list of origins, each scheme://host[:port] with no path, e.g. https://app.example.com',
      ]);
    }
  });
});
