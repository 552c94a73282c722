import { HttpProblem } from '@pep/service-kit';
import { nppesRecord, startNppesFake, type NppesFake } from '@pep/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNpiRegistry, isValidNpi } from './npi-registry.js';

const silent = { warn: () => undefined };

describe('isValidNpi', () => {
  it('accepts NPIs whose last digit is the Luhn check over 80840 and the first nine', () => {
    // CMS's worked example: 123456789 gets check digit 3.
    expect(isValidNpi('1234567893')).toBe(true);
    expect(isValidNpi('1689872012')).toBe(true);
    expect(isValidNpi('1003000126')).toBe(true);
  });

  it('refuses a wrong check digit, other lengths and non-digits', () => {
    expect(isValidNpi('1234567890')).toBe(false);
    expect(isValidNpi('1689872013')).toBe(false);
    expect(isValidNpi('123456789')).toBe(false);
    expect(isValidNpi('12345678930')).toBe(false);
    expect(isValidNpi('12345678a3')).toBe(false);
  });
});

describe('NPI registry client against a registry speaking NPPES v2.1', () => {
  let fake: NppesFake;
  beforeAll(async () => {
    fake = await startNppesFake();
    fake.records.push(
      nppesRecord({ number: '1689872012', first_name: 'BRIJ', last_name: 'MOHAN', taxonomy: 'Cardiovascular Disease' }),
      nppesRecord({
        number: '1234567893',
        organization_name: 'SPRINGFIELD HEART CENTER',
        address: { address_2: '', postal_code: '62701', telephone_number: '' },
      }),
    );
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.fault = 'none';
    fake.requests.length = 0;
  });

  const registry = (timeoutMs = 2_000) => createNpiRegistry({ url: fake.url, timeoutMs, logger: silent });

  it('asks with version=2.1 and maps people and organizations to the provider shape', async () => {
    const [person] = await registry().search({ last_name: 'moh*', state: 'il', limit: 10, skip: 0 });
    expect(fake.requests[0]!.get('version')).toBe('2.1');
    expect(fake.requests[0]!.get('last_name')).toBe('moh*');
    expect(person).toEqual({
      npi: '1689872012',
      enumerationType: 'NPI-1',
      firstname: 'BRIJ',
      lastname: 'MOHAN',
      name: 'BRIJ MOHAN',
      taxonomy: 'Cardiovascular Disease',
      address: '100 MAIN ST, SUITE 200',
      city: 'SPRINGFIELD',
      state: 'IL',
      postcode: '62701-1234',
      phone: '+12175550142',
      fax: '+12175550143',
    });
    const [organization] = await registry().search({ organization_name: 'springfield*', limit: 10, skip: 0 });
    expect(organization).toMatchObject({
      npi: '1234567893',
      enumerationType: 'NPI-2',
      firstname: null,
      lastname: null,
      name: 'SPRINGFIELD HEART CENTER',
      address: '100 MAIN ST',
      postcode: '62701',
      phone: null,
    });
  });

  it("answers the registry's Errors as 400 naming the field", async () => {
    const refusal = await registry()
      .search({ state: 'IL', limit: 10, skip: 0 })
      .catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(HttpProblem);
    expect((refusal as HttpProblem).status).toBe(400);
    expect((refusal as HttpProblem).extensions.errors).toEqual([
      { field: 'querystring.state', message: 'Field state requires additional search criteria' },
    ]);
    const none = (await registry()
      .search({ limit: 10, skip: 0 })
      .catch((error: unknown) => error)) as HttpProblem;
    expect(none.extensions.errors).toEqual([{ field: 'querystring', message: 'No valid search criteria provided' }]);
  });

  it('answers 503 with a retry time when the registry hangs, fails or cannot be reached', async () => {
    for (const fault of ['slow', 'error', 'unreachable'] as const) {
      fake.fault = fault;
      const started = Date.now();
      const failure = (await registry(300)
        .search({ number: '1689872012', limit: 10, skip: 0 })
        .catch((error: unknown) => error)) as HttpProblem;
      expect(failure, fault).toBeInstanceOf(HttpProblem);
      expect(failure.status, fault).toBe(503);
      expect(failure.extensions.retryAfter, fault).toBeGreaterThan(0);
      // The timeout bounds the wait: a hanging registry never hangs the request.
      expect(Date.now() - started, fault).toBeLessThan(2_000);
    }
  });
});
