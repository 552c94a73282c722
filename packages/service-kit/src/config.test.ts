import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseConfigSchema, ConfigError, envBoolean, envList, parseConfig } from './config.js';

const schema = baseConfigSchema.extend({ DATABASE_URL: z.string().url(), BROKERS: envList, MIGRATE: envBoolean.default(true) });

describe('parseConfig', () => {
  it('reports every problem at once', () => {
    let error: unknown;
    try {
      parseConfig(schema, { PORT: 'eighty', DATABASE_URL: 'nope', LOG_LEVEL: 'loud' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((problem) => problem.split(':')[0]).sort();
    expect(problems).toEqual(['BROKERS', 'DATABASE_URL', 'LOG_LEVEL', 'PORT']);
  });

  it('parses lists, booleans and defaults', () => {
    const config = parseConfig(schema, { DATABASE_URL: 'postgres://h/db', BROKERS: 'a:1, b:2', MIGRATE: 'false' });
    expect(config).toMatchObject({ PORT: 8080, BROKERS: ['a:1', 'b:2'], MIGRATE: false, HOST: '127.0.0.1' });
  });

  it('refuses tracing settings that would send spans nowhere, naming the variable', () => {
    const base = { DATABASE_URL: 'postgres://h/db', BROKERS: 'a:1' };
    expect(() => parseConfig(schema, { ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(() => parseConfig(schema, { ...base, OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(/OTEL_TRACES_SAMPLER/);
    expect(() => parseConfig(schema, { ...base, OTEL_TRACES_SAMPLER_ARG: '10' })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    const config = parseConfig(schema, {
      ...base,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
    });
    expect(config).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318', OTEL_TRACES_SAMPLER_ARG: 0.1 });
  });
});
