// `npm run distributed`: the distributed runtime on this machine in one command. Each service runs as its own process
// on its own database of the local Postgres, Kafka comes from KAFKA_BROKERS or is started locally, mail goes to an SMTP
// sink (kept as files in the data folder) and texts to messaging's development sink, whose webhook token is written
// where `npm run reply` finds it. Stays up until Ctrl-C, then stops everything it started.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { newSecrets, startDistributedRuntime, type DistributedRuntime, type RuntimeSecrets } from './runtime.js';

/** The folder `npm run distributed` keeps its secrets, login, addresses and mail in (DATA_DIR overrides it). */
export const DEFAULT_DATA_DIR = '.data/distributed';

interface Saved {
  secrets: RuntimeSecrets;
  login: { email: string; password: string };
}

const say = (line: string) => process.stdout.write(`${line}\n`);

async function savedState(dataDir: string): Promise<Saved> {
  const file = join(dataDir, 'state.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Saved;
  } catch {
    // Databases are kept between runs, so the secrets sealing auth's keys and the login are kept with them.
    const state: Saved = {
      secrets: newSecrets(),
      login: { email: 'admin@clinic.example', password: `pep-${newSecrets().smsWebhookToken.slice(0, 16)}` },
    };
    await writeFile(file, JSON.stringify(state, null, 2), { mode: 0o600 });
    return state;
  }
}

/** Signs the clinic up on the first run; logs in on later ones. */
async function ensureLogin(runtime: DistributedRuntime, login: Saved['login']): Promise<void> {
  const post = (path: string, body: unknown) =>
    fetch(`${runtime.gatewayUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const loggedIn = await post('/api/users/login', login);
  if (loggedIn.status === 200) return;
  const signup = await post('/api/users/signup', { ...login, firstname: 'Ada', lastname: 'Admin', organizationName: 'Distributed Clinic' });
  if (signup.status !== 200) throw new Error(`signing the clinic up failed: ${signup.status} ${await signup.text()}`);
}

/** Keeps each mail the SMTP sink receives as a text file, so password-reset and welcome links can be followed. */
function keepMail(runtime: DistributedRuntime, mailDir: string): NodeJS.Timeout {
  let written = 0;
  return setInterval(() => {
    void (async () => {
      while (written < runtime.smtp.inbox.length) {
        const mail = runtime.smtp.inbox[written]!;
        written += 1;
        const to = Array.isArray(mail.to) ? mail.to.map((address) => address.text).join(', ') : (mail.to?.text ?? '');
        const file = join(mailDir, `${String(written).padStart(4, '0')}.txt`);
        await writeFile(file, `To: ${to}\nSubject: ${mail.subject ?? ''}\n\n${mail.text ?? ''}\n`);
        say(`mail to ${to}: "${mail.subject ?? ''}" (${file})`);
      }
    })();
  }, 1_000);
}

async function main(): Promise<void> {
  const dataDir = resolve(process.env['DATA_DIR'] ?? DEFAULT_DATA_DIR);
  const mailDir = join(dataDir, 'mail');
  await mkdir(mailDir, { recursive: true });
  const state = await savedState(dataDir);
  const port = process.env['PORT'] ? Number(process.env['PORT']) : 3000;
  const runtime = await startDistributedRuntime({
    databases: { prefix: process.env['DATABASE_PREFIX'] ?? 'pep_distributed' },
    kafka: 'environment',
    sms: 'sink',
    clockControl: false,
    secrets: state.secrets,
    gatewayPort: port,
    log: (line) => say(`[distributed] ${line}`),
  });
  const mail = keepMail(runtime, mailDir);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('[distributed] stopping…');
    clearInterval(mail);
    await runtime.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  try {
    await ensureLogin(runtime, state.login);
    // What `npm run reply` reads (scripts/local-platform.mjs): where to post, and the token to sign with.
    await writeFile(join(dataDir, 'platform.json'), JSON.stringify({ url: runtime.gatewayUrl, publicUrl: runtime.publicUrl }, null, 2));
    await writeFile(join(dataDir, 'sms-webhook-token'), `${runtime.webhookToken}\n`, { mode: 0o600 });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    await stop(1);
    return;
  }
  const relative = process.env['DATA_DIR'] ?? DEFAULT_DATA_DIR;
  say('');
  say(`The platform is up at ${runtime.gatewayUrl} (API docs: ${runtime.gatewayUrl}/api/docs)`);
  say(`Log in: POST /api/users/login {"email":"${state.login.email}","password":"${state.login.password}"}`);
  for (const service of Object.values(runtime.services)) say(`  ${service.name.padEnd(10)} ${service.url}`);
  say(`Texts go to the development sink (GET /api/messages); play a patient's reply with`);
  say(`  DATA_DIR=${relative} npm run reply -- <phone> C`);
  say(`Mail is kept in ${mailDir}. Ctrl-C stops everything.`);
}

await main();
