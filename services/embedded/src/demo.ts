import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DemoPracticeSeeder, NO_PRACTICE, sizeOf, type DemoPractice } from '@pep/auth';

/** Where `--demo` keeps the demo login and what it seeded, so a second start neither signs up nor seeds again. */
export const DEMO_FILE = 'demo.json';

/** The demo login `--demo` prints. */
export interface DemoLogin {
  email: string;
  password: string;
  organization: string;
  practice: DemoPractice;
}

const EMAIL = 'demo@localhost.example';

/**
 * Signs a clinic up through the gateway (once per data folder) and seeds it the demo practice sales demo accounts get
 * (the same seeder, through the same public API), resuming after an interrupted start. The demo patient's phone is
 * `phone` (texts go to the development sink on a laptop).
 */
export async function seedDemo(options: {
  url: string;
  dataDir: string;
  phone?: string | undefined;
  clock?: () => Date;
}): Promise<DemoLogin> {
  const file = join(options.dataDir, DEMO_FILE);
  const saved = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as Partial<DemoLogin>,
    () => null,
  );
  // The password is written before the sign-up, so a start interrupted after it can still log in.
  const login = { email: saved?.email ?? EMAIL, password: saved?.password ?? randomBytes(12).toString('base64url') };
  let state: DemoLogin = { ...login, organization: saved?.organization ?? '', practice: saved?.practice ?? NO_PRACTICE };
  const save = async () => writeFile(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  if (!saved) await save();
  if (state.practice.completedAt) return state;

  const token = await signUpOrLogIn(options.url, login, (organization) => {
    state = { ...state, organization };
  });
  await save();
  const seeder = new DemoPracticeSeeder({ gatewayUrl: () => options.url, clock: options.clock ?? (() => new Date()) });
  const size = sizeOf({ phone: options.phone ?? '+14155550100' });
  await seeder.seed({ token, firstname: 'Demo', lastname: 'Patient' }, size, state.practice, async (practice) => {
    state = { ...state, practice };
    await save();
  });
  return state;
}

async function signUpOrLogIn(url: string, login: { email: string; password: string }, organization: (id: string) => void): Promise<string> {
  const post = (path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  const signup = await post('/api/users/signup', {
    ...login,
    firstname: 'Demo',
    lastname: 'Admin',
    organizationName: 'Main Street Clinic (demo)',
  });
  const answer = (await signup.json()) as { token?: string; organization?: { _id?: string }; user?: { organization?: string } };
  if (signup.ok && answer.token) {
    organization(answer.organization?._id ?? '');
    return answer.token;
  }
  if (signup.status !== 409) throw new Error(`demo sign-up answered ${signup.status}`);
  const logged = await post('/api/users/login', login);
  const session = (await logged.json()) as { token?: string; user?: { organization?: string } };
  if (!logged.ok || !session.token) throw new Error(`demo login answered ${logged.status}`);
  organization(session.user?.organization ?? '');
  return session.token;
}

const count = (items: unknown[], one: string, many = `${one}s`) => `${items.length} ${items.length === 1 ? one : many}`;

/** The lines `npm start -- --demo` prints. */
export function demoBanner(url: string, login: DemoLogin): string {
  const practice = login.practice;
  return [
    '',
    'Demo practice ready.',
    `  Log in at ${url} (POST /api/users/login) as`,
    `    e-mail:   ${login.email}`,
    `    password: ${login.password}`,
    `  ${count(practice.providers, 'provider')}, ${count(practice.facilities, 'facility', 'facilities')}, ${count(practice.patients, 'patient')} ` +
      `(${practice.waitlists.length} waitlisted), ${count(practice.appointments, 'upcoming appointment')}.`,
    '  Texts go to the development sink: GET /api/messages. Play a patient with npm run reply -- <phone> <text>.',
    '',
  ].join('\n');
}
