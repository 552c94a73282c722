import type { ServiceApp } from '@pep/service-kit';
import { patientFor } from './harness.js';

let counter = 0;

/** Creates a record through the API and answers it; a failure throws with the answer. */
export async function create(app: ServiceApp, headers: Record<string, string>, url: string, payload: Record<string, unknown>) {
  const response = await app.inject({ method: 'POST', url, headers, payload });
  if (response.statusCode !== 200) throw new Error(`POST ${url} failed: ${response.statusCode} ${response.body}`);
  return response.json() as { _id: string } & Record<string, unknown>;
}

/** A provider, a facility and a 30-minute appointment type of the caller's organization, and a patient of it the read model knows. */
export async function catalog(app: ServiceApp, headers: Record<string, string>) {
  counter += 1;
  const provider = await create(app, headers, '/api/providers', { firstname: 'Grace', lastname: `Hopper${counter}` });
  const facility = await create(app, headers, '/api/facilities', { name: `Main Street Clinic ${counter}`, timeZone: 'America/New_York' });
  const type = await create(app, headers, '/api/appointmentTypes', { name: `Check-up ${counter}`, duration: 30 });
  return { provider: provider._id, facility: facility._id, type: type._id, patient: await patientFor(app, headers) };
}

/** Body of a booking of the catalog's patient with its records at the given instant. */
export function booking(
  records: { provider: string; facility: string; type: string; patient: string },
  date: string,
  overrides: Record<string, unknown> = {},
) {
  return { ...records, date, ...overrides };
}
