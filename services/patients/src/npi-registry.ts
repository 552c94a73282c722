import { HttpProblem, type Logger } from '@pep/service-kit';
import { z } from 'zod';
import { toE164 } from './contact.js';

/** The public NPPES NPI Registry API (https://npiregistry.cms.hhs.gov/api-page). */
export const NPPES_API_URL = 'https://npiregistry.cms.hhs.gov/api/';

/** Seconds a caller is told to wait when the registry does not answer. */
const RETRY_AFTER_SECONDS = 30;

/**
 * Whether a 10-digit NPI carries a valid check digit: the Luhn check over "80840" (the card issuer prefix of US health
 * identifiers) followed by the NPI's first nine digits, as CMS's NPI standard defines it.
 */
export function isValidNpi(npi: string): boolean {
  if (!/^\d{10}$/.test(npi)) return false;
  const digits = `80840${npi.slice(0, 9)}`;
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    // Doubling starts from the rightmost digit of the payload, where the check digit would sit next to it.
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10 === Number(npi[9]);
}

/** What the registry is searched by: NPPES's own parameter names (see the route's query). */
export interface NpiSearchCriteria {
  number?: string | undefined;
  enumeration_type?: 'NPI-1' | 'NPI-2' | undefined;
  first_name?: string | undefined;
  last_name?: string | undefined;
  organization_name?: string | undefined;
  taxonomy_description?: string | undefined;
  city?: string | undefined;
  state?: string | undefined;
  postal_code?: string | undefined;
  limit: number;
  skip: number;
}

/** One registry record, reduced to what a referring provider keeps. */
export interface NpiRecord {
  npi: string;
  /** `NPI-1` a person, `NPI-2` an organization. */
  enumerationType: string;
  firstname: string | null;
  lastname: string | null;
  /** "First Last", or the organization's name. */
  name: string;
  /** The primary taxonomy's description (the specialty). */
  taxonomy: string | null;
  address: string | null;
  city: string | null;
  state: string | null;
  postcode: string | null;
  /** E.164 when the registry's number is a valid one, else as the registry wrote it. */
  phone: string | null;
  fax: string | null;
}

/** Searches the national registry of providers. */
export interface NpiRegistry {
  /**
   * The records matching the criteria. A search the registry refuses answers 400 naming the field; a registry that
   * cannot be reached, fails or takes longer than the timeout answers 503 with Retry-After.
   */
  search(criteria: NpiSearchCriteria): Promise<NpiRecord[]>;
}

const text = z
  .string()
  .nullish()
  .transform((value) => value?.trim() || null);

const registryAddress = z.object({
  address_purpose: z.string(),
  address_1: text,
  address_2: text,
  city: text,
  state: text,
  postal_code: text,
  telephone_number: text,
  fax_number: text,
});

const registryRecord = z.object({
  // v2.1 answers numbers as strings; older answers had them as numbers.
  number: z.union([z.string(), z.number()]).transform(String),
  enumeration_type: z.string(),
  basic: z.object({ first_name: text, last_name: text, organization_name: text, name: text }),
  addresses: z.array(registryAddress).default([]),
  taxonomies: z.array(z.object({ desc: text, primary: z.boolean().nullish() })).default([]),
});

const registryAnswer = z.union([
  z.object({ result_count: z.number(), results: z.array(registryRecord).default([]) }),
  z.object({ Errors: z.array(z.object({ description: z.string(), field: z.string().nullish() })).min(1) }),
]);

const postcodeOf = (raw: string | null) => (raw && /^\d{9}$/.test(raw) ? `${raw.slice(0, 5)}-${raw.slice(5)}` : raw);
const phoneOf = (raw: string | null) => (raw ? (toE164(raw) ?? raw) : null);

function toNpiRecord(record: z.output<typeof registryRecord>): NpiRecord {
  const { basic } = record;
  const location = record.addresses.find((address) => address.address_purpose === 'LOCATION') ?? record.addresses[0];
  const primary = record.taxonomies.find((taxonomy) => taxonomy.primary) ?? record.taxonomies[0];
  const person = [basic.first_name, basic.last_name].filter(Boolean).join(' ');
  return {
    npi: record.number,
    enumerationType: record.enumeration_type,
    firstname: basic.first_name,
    lastname: basic.last_name,
    name: basic.organization_name ?? (person || basic.name || `NPI ${record.number}`),
    taxonomy: primary?.desc ?? null,
    address: location ? [location.address_1, location.address_2].filter(Boolean).join(', ') || null : null,
    city: location?.city ?? null,
    state: location?.state ?? null,
    postcode: postcodeOf(location?.postal_code ?? null),
    phone: phoneOf(location?.telephone_number ?? null),
    fax: phoneOf(location?.fax_number ?? null),
  };
}

/** Options of {@link createNpiRegistry}. */
export interface NpiRegistryOptions {
  /** The API's base URL (`https://npiregistry.cms.hhs.gov/api/`, or a local stand-in). */
  url: string;
  /** How long one search may take, answer included, before it answers 503. */
  timeoutMs: number;
  /** Where failures to reach the registry are reported (never the search's terms). */
  logger: Pick<Logger, 'warn'>;
}

/** An {@link NpiRegistry} over NPPES API v2.1, with a hard timeout so a hanging registry never hangs a request. */
export function createNpiRegistry(options: NpiRegistryOptions): NpiRegistry {
  const unavailable = (reason: string) => {
    options.logger.warn({ reason }, 'NPI registry search failed; answering 503');
    return new HttpProblem(503, 'npi-registry-unavailable', 'The national NPI registry (NPPES) did not answer; try again shortly.', {
      retryAfter: RETRY_AFTER_SECONDS,
    });
  };
  return {
    async search(criteria) {
      const url = new URL(options.url);
      url.searchParams.set('version', '2.1');
      for (const [name, value] of Object.entries(criteria)) {
        if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
      }
      let body: unknown;
      try {
        // One signal for the request and its body: a registry that answers headers and then stalls still times out.
        const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(options.timeoutMs) });
        if (!response.ok) {
          await response.body?.cancel();
          throw unavailable(`answered ${response.status}`);
        }
        body = await response.json();
      } catch (error) {
        if (error instanceof HttpProblem) throw error;
        const name = error instanceof Error ? error.name : '';
        throw unavailable(
          name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : name === 'SyntaxError' ? 'not JSON' : 'unreachable',
        );
      }
      const answer = registryAnswer.safeParse(body);
      if (!answer.success) throw unavailable('an answer not in the v2.1 shape');
      if ('Errors' in answer.data) {
        throw new HttpProblem(400, 'validation', 'The NPI registry refused the search.', {
          errors: answer.data.Errors.map((error) => ({
            field: error.field && error.field !== 'generic' ? `querystring.${error.field}` : 'querystring',
            message: error.description,
          })),
        });
      }
      return answer.data.results.map(toNpiRecord);
    },
  };
}
