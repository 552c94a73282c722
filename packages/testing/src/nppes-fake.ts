import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One address of a registry record, as NPPES API v2.1 answers it. */
export interface NppesAddress {
  country_code: string;
  country_name: string;
  /** `LOCATION` (practice) or `MAILING`. */
  address_purpose: 'LOCATION' | 'MAILING';
  address_type: string;
  address_1: string;
  address_2: string;
  city: string;
  state: string;
  /** Five or nine digits, no dash. */
  postal_code: string;
  telephone_number?: string;
  fax_number?: string;
}

/** One taxonomy (specialty) of a registry record. */
export interface NppesTaxonomy {
  code: string;
  taxonomy_group: string;
  desc: string;
  state: string | null;
  license: string | null;
  primary: boolean;
}

/** One record of the registry, in the shape of NPPES API v2.1's `results[]`. */
export interface NppesRecord {
  created_epoch: string;
  /** `NPI-1` for a person, `NPI-2` for an organization. */
  enumeration_type: 'NPI-1' | 'NPI-2';
  last_updated_epoch: string;
  number: string;
  addresses: NppesAddress[];
  practiceLocations: NppesAddress[];
  basic: Record<string, string>;
  taxonomies: NppesTaxonomy[];
  identifiers: unknown[];
  endpoints: unknown[];
  other_names: unknown[];
}

/**
 * How the fake misbehaves: `none`; `slow` holds every request without answering (a registry that hangs); `error`
 * answers 500 with an HTML page, as the registry's front end does when it fails; `unreachable` resets each connection.
 */
export type NppesFaultMode = 'none' | 'slow' | 'error' | 'unreachable';

/** A local HTTP server speaking the NPPES NPI Registry API v2.1 (`GET /api/?version=2.1&...`). */
export interface NppesFake {
  /** Base URL to give the service as its registry URL (ends in `/api/`). */
  url: string;
  /** The records searches run over; tests add to it. */
  records: NppesRecord[];
  /** The query of every request received, oldest first. */
  requests: URLSearchParams[];
  fault: NppesFaultMode;
  close(): Promise<void>;
}

/** The criteria NPPES searches by (the rest of its parameters only shape the answer). */
const CRITERIA = [
  'number',
  'enumeration_type',
  'taxonomy_description',
  'first_name',
  'last_name',
  'organization_name',
  'city',
  'state',
  'postal_code',
  'country_code',
] as const;

/** A registry record with plausible defaults; `number` must be given. */
export function nppesRecord(fields: {
  number: string;
  first_name?: string;
  last_name?: string;
  organization_name?: string;
  taxonomy?: string;
  address?: Partial<NppesAddress>;
}): NppesRecord {
  const organization = fields.organization_name !== undefined;
  const location: NppesAddress = {
    country_code: 'US',
    country_name: 'United States',
    address_purpose: 'LOCATION',
    address_type: 'DOM',
    address_1: '100 MAIN ST',
    address_2: 'SUITE 200',
    city: 'SPRINGFIELD',
    state: 'IL',
    postal_code: '627011234',
    telephone_number: '217-555-0142',
    fax_number: '217-555-0143',
    ...fields.address,
  };
  return {
    created_epoch: '1183680000000',
    enumeration_type: organization ? 'NPI-2' : 'NPI-1',
    last_updated_epoch: '1269302400000',
    number: fields.number,
    addresses: [location, { ...location, address_purpose: 'MAILING', address_1: 'PO BOX 12', address_2: '' }],
    practiceLocations: [],
    basic: organization
      ? { organization_name: fields.organization_name!, organizational_subpart: 'NO', enumeration_date: '2007-07-06', status: 'A' }
      : {
          first_name: fields.first_name ?? 'JANE',
          last_name: fields.last_name ?? 'DOE',
          middle_name: '',
          credential: 'M.D.',
          sole_proprietor: 'NO',
          sex: 'F',
          enumeration_date: '2007-07-06',
          last_updated: '2010-03-23',
          status: 'A',
        },
    taxonomies: [
      { code: '207Q00000X', taxonomy_group: '', desc: 'Family Medicine', state: 'IL', license: '036-000000', primary: false },
      {
        code: '207R00000X',
        taxonomy_group: '',
        desc: fields.taxonomy ?? 'Internal Medicine',
        state: 'IL',
        license: '036-000000',
        primary: true,
      },
    ],
    identifiers: [],
    endpoints: [],
    other_names: [],
  };
}

function json(response: ServerResponse, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** NPPES answers a search it refuses with 200 and an `Errors` array naming the field. */
const refused = (response: ServerResponse, field: string, description: string, number: string) =>
  json(response, { Errors: [{ description, field, number }] });

/** Case-insensitive equality, with NPPES's trailing `*` wildcard (at least two characters before it). */
function matches(value: string | undefined, pattern: string): boolean {
  if (value === undefined) return false;
  const wanted = pattern.toUpperCase();
  const actual = value.toUpperCase();
  return wanted.endsWith('*') ? actual.startsWith(wanted.slice(0, -1)) : actual === wanted;
}

function selects(record: NppesRecord, query: URLSearchParams): boolean {
  const location = record.addresses.find((address) => address.address_purpose === 'LOCATION');
  const checks: Record<(typeof CRITERIA)[number], (value: string) => boolean> = {
    number: (value) => record.number === value,
    enumeration_type: (value) => record.enumeration_type === value.toUpperCase(),
    taxonomy_description: (value) => record.taxonomies.some((taxonomy) => matches(taxonomy.desc, value)),
    first_name: (value) => matches(record.basic['first_name'], value),
    last_name: (value) => matches(record.basic['last_name'], value),
    organization_name: (value) => matches(record.basic['organization_name'], value),
    city: (value) => matches(location?.city, value),
    state: (value) => matches(location?.state, value),
    postal_code: (value) => (location?.postal_code ?? '').startsWith(value),
    country_code: (value) => matches(location?.country_code, value),
  };
  return CRITERIA.every((criterion) => {
    const value = query.get(criterion);
    return !value || checks[criterion](value);
  });
}

/** Starts the fake on a free loopback port, with no records. */
export async function startNppesFake(): Promise<NppesFake> {
  const fake: NppesFake = { url: '', records: [], requests: [], fault: 'none', close: async () => undefined };
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://registry');
    const query = url.searchParams;
    fake.requests.push(query);
    if (fake.fault === 'unreachable') return request.socket.destroy();
    // Held until the client gives up or the fake closes: a hang, never an answer.
    if (fake.fault === 'slow') return;
    if (fake.fault === 'error') {
      response.writeHead(500, { 'content-type': 'text/html' });
      return response.end('<html><body>Internal Server Error</body></html>');
    }
    if (request.method !== 'GET' || url.pathname !== '/api/') {
      response.writeHead(404, { 'content-type': 'text/html' });
      return response.end('<html><body>Not Found</body></html>');
    }
    if (query.get('version') !== '2.1') return refused(response, 'version', 'Unsupported Version', '10');
    const given = CRITERIA.filter((criterion) => query.get(criterion));
    if (given.length === 0) return refused(response, 'generic', 'No valid search criteria provided', '04');
    if (given.length === 1 && given[0] === 'state')
      return refused(response, 'state', 'Field state requires additional search criteria', '07');
    for (const field of ['first_name', 'last_name', 'organization_name', 'taxonomy_description'] as const) {
      const value = query.get(field);
      if (value?.endsWith('*') && value.length < 3)
        return refused(response, field, `Field ${field} requires at least two characters before the wildcard`, '06');
    }
    const limit = Number(query.get('limit') ?? '10');
    if (!Number.isInteger(limit) || limit < 1 || limit > 200)
      return refused(response, 'limit', 'Field limit must be a number between 1 and 200', '08');
    const skip = Number(query.get('skip') ?? '0');
    if (!Number.isInteger(skip) || skip < 0 || skip > 1000)
      return refused(response, 'skip', 'Field skip must be a number between 0 and 1000', '09');
    const results = fake.records.filter((record) => selects(record, query)).slice(skip, skip + limit);
    // NPPES's result_count is the number of results in this answer, not of all matches.
    json(response, { result_count: results.length, results });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Requests held in `slow` mode must not keep the server open.
      server.closeAllConnections();
    });
  return fake;
}
