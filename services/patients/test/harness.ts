import { startServiceUnderTest, TEST_INTERNAL_SECRET, headersOf, type ServiceUnderTest } from '@pep/db/testing';
import type { Identity } from '@pep/service-kit';
import { buildApp } from '../src/app.js';
import { migrationsDir } from '../src/migrations.js';

export const SECRET = TEST_INTERNAL_SECRET;

/** A patients service on its own fresh Postgres database and topic prefix, on the given brokers. */
export type PatientsUnderTest = ServiceUnderTest;

export function startPatients(label: string, brokers: string[], options: { maxEventAttempts?: number } = {}): Promise<PatientsUnderTest> {
  return startServiceUnderTest({ service: 'patients', label, brokers, migrationsDir, ...options, build: buildApp });
}

/** Headers of a request made by a member of the organization, as the gateway would send them. */
export const as: (identity: Identity) => Promise<Record<string, string>> = headersOf;

export const orgA: Identity = { organization: '6c0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0a01', user: 'user-a', roles: ['staff'] };
export const orgB: Identity = { organization: '6c0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0b02', user: 'user-b', roles: ['admin'] };
