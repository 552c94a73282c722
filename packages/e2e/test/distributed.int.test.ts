import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort, kafkaBrokers, uniqueTopicPrefix, waitFor, type TestDatabase } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, stopAll, type ServiceProcess } from './processes.js';

// The distributed runtime: auth, patients, scheduling, messaging, billing and the gateway each in their own process, on their
// own Postgres databases, talking through a real Kafka broker.
const MESSAGING_SESSION_MS = 30_000;

describe('distributed platform', () => {
  const databases: TestDatabase[] = [];
  const services: ServiceProcess[] = [];
  let gateway: ServiceProcess;
  let mailDir: string;
  let authDatabaseUrl: string;

  beforeAll(async () => {
    const common = {
      KAFKA_BROKERS: (await kafkaBrokers()).join(','),
      TOPIC_PREFIX: uniqueTopicPrefix('e2e'),
      INTERNAL_AUTH_SECRET: 'e2e-internal-secret-0123456789abcdefgh',
    };
    mailDir = await mkdtemp(join(tmpdir(), 'pep-e2e-mail-'));
    const database = async (label: string) => {
      const created = await createTestDatabase(label);
      databases.push(created);
      return created.url;
    };
    // Scheduling asks patients about a patient it has not heard of yet: it has to know where patients listens.
    const patientsPort = await freePort();
    // Auth and messaging ask scheduling (and messaging patients) about records their events have not brought yet.
    const schedulingPort = await freePort();
    // Scheduling asks auth whether a v1 booking's `user` is one of the organization's users.
    const authPort = await freePort();
    const owners = { PATIENTS_URL: `http://127.0.0.1:${patientsPort}`, SCHEDULING_URL: `http://127.0.0.1:${schedulingPort}` };
    // Auth seeds demo accounts' practices through the gateway, which starts last.
    const gatewayPort = await freePort();
    authDatabaseUrl = await database('e2e-auth');
    const [auth, patients, scheduling, messaging, billing] = await Promise.all([
      startService(
        'auth',
        {
          ...common,
          DATABASE_URL: authDatabaseUrl,
          SIGNING_KEY_SECRET: 'e2e-signing-key-secret-0123456789abcdef',
          PUBLIC_URL: 'http://localhost:3000',
          MAIL_DIR: mailDir,
          SCHEDULING_URL: owners.SCHEDULING_URL,
          GATEWAY_URL: `http://127.0.0.1:${gatewayPort}`,
        },
        { port: authPort },
      ),
      startService('patients', { ...common, DATABASE_URL: await database('e2e-patients') }, { port: patientsPort }),
      startService(
        'scheduling',
        {
          ...common,
          DATABASE_URL: await database('e2e-scheduling'),
          PATIENTS_URL: owners.PATIENTS_URL,
          AUTH_URL: `http://127.0.0.1:${authPort}`,
        },
        { port: schedulingPort },
      ),
      // No Twilio account: texts go to the development sink. A session longer than the default (10 s) makes the kill -9
      // test below certain to see the restarted process serve while its dead predecessor still holds the groups.
      startService('messaging', {
        ...common,
        DATABASE_URL: await database('e2e-messaging'),
        PUBLIC_URL: 'http://localhost:3000',
        // Production refuses to start without an SMS vendor unless the sink is asked for by name.
        SMS_SINK: 'true',
        MAIL_DIR: mailDir,
        KAFKA_SESSION_TIMEOUT_MS: String(MESSAGING_SESSION_MS),
        ...owners,
      }),
      // No Stripe key: billing is a sandbox, keeping accounts locally and never calling Stripe.
      startService('billing', { ...common, DATABASE_URL: await database('e2e-billing') }),
    ]);
    services.push(auth, patients, scheduling, messaging, billing);
    gateway = await startService(
      'gateway',
      {
        ...common,
        UPSTREAMS: `auth=${auth.url},patients=${patients.url},scheduling=${scheduling.url},messaging=${messaging.url},billing=${billing.url}`,
      },
      { port: gatewayPort },
    );
    services.push(gateway);
  });

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    // Also those a failed start or test left running.
    await stopAll();
    for (const database of databases) await database.drop();
    if (mailDir) await rm(mailDir, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { 'x-access-token': `Bearer ${token}` } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };

  it('reports every deployed service healthy', async () => {
    // Consumer groups join in the background after a start (ADR 0024); a service is degraded, not ok, until they have.
    await waitFor(async () => (await api('GET', '/api/status')).body['status'] === 'ok', {
      timeoutMs: 60_000,
      message: 'every consumer group joined',
    });
    const status = await api('GET', '/api/status');
    expect(status.body['services']).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'auth', status: 'ok' }),
        expect.objectContaining({ name: 'patients', status: 'ok' }),
        expect.objectContaining({ name: 'scheduling', status: 'ok' }),
        expect.objectContaining({ name: 'messaging', status: 'ok' }),
        expect.objectContaining({ name: 'billing', status: 'ok' }),
      ]),
    );
  });

  it('runs on real time: no service exposes a movable clock unless started with CLOCK_CONTROL, nor the gateway routes one', async () => {
    for (const service of services) expect((await fetch(`${service.url}/internal/clock`)).status, service.name).toBe(404);
    const put = await fetch(`${gateway.url}/internal/clock`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ now: '2040-01-01T00:00:00Z' }),
    });
    expect(put.status).toBe(404);
    // The embedded runtime's sandbox clock is added by services/embedded to its own gateway only.
    for (const path of ['/sandbox/clock', '/sandbox/next', '/sandbox/send-due']) {
      const moved = await fetch(`${gateway.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ advance: '14h' }),
      });
      expect(moved.status, path).toBe(404);
    }
  });

  it('points a browser at the docs from the host root, and serves the password-reset page from auth', async () => {
    const home = await fetch(`${gateway.url}/`, { headers: { accept: 'text/html' } });
    expect(home.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await home.text()).toContain('href="/api/docs"');
    expect(await (await fetch(`${gateway.url}/`)).json()).toMatchObject({ docs: '/api/docs', status: '/api/status' });
    const page = await fetch(`${gateway.url}/reset-password/not-a-real-link-token-0000`);
    expect(page.status).toBe(400);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('This link no longer works');
  });

  it('signs a clinic up, logs in and works with patients through the gateway, tenant-scoped', async () => {
    const signup = await api('POST', '/api/users/signup', {
      email: 'lead@distributed.example',
      password: 'distributed passphrase',
      firstname: 'Lea',
      lastname: 'Lead',
      organizationName: 'Distributed Clinic',
    });
    expect(signup.status).toBe(200);
    const login = await api('POST', '/api/users/login', { email: 'lead@distributed.example', password: 'distributed passphrase' });
    expect(login.status).toBe(200);
    const token = login.body['token'] as string;
    expect((await api('GET', '/api/tokens/validate', undefined, token)).body).toMatchObject({ iss: 'pep-auth', roles: ['admin'] });

    const created = await api('POST', '/api/patients', { firstname: 'Dee', lastname: 'Stributed', email: 'dee@example.com' }, token);
    expect(created.status).toBe(200);
    const id = created.body['_id'] as string;
    await waitFor(
      async () => ((await api('GET', `/api/patients/${id}/journey`, undefined, token)).body['response'] as unknown[]).length === 1,
      {
        timeoutMs: 30_000,
        message: 'patient.created travels through Kafka to the journey',
      },
    );

    // Scheduling books the patient in its own process; the event crosses Kafka into the patient's journey.
    const provider = await api('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' }, token);
    const facility = await api('POST', '/api/facilities', { name: 'Main Street', timeZone: 'America/New_York' }, token);
    const type = await api('POST', '/api/appointmentTypes', { name: 'Check-up', duration: 30 }, token);
    const slot = {
      provider: provider.body['_id'],
      facility: facility.body['_id'],
      type: type.body['_id'],
      date: '2030-03-10T14:00:00.000Z',
    };
    expect((await api('POST', '/api/appointments', { patient: id, ...slot }, token)).status).toBe(200);
    expect((await api('POST', '/api/appointments', { patient: id, ...slot }, token)).status).toBe(409);
    await waitFor(
      async () =>
        ((await api('GET', `/api/patients/${id}/journey`, undefined, token)).body['response'] as Array<{ type: string }>).some(
          (entry) => entry.type === 'appointment.created',
        ),
      { timeoutMs: 30_000, message: 'appointment.created travels from scheduling to patients through Kafka' },
    );

    const other = await api('POST', '/api/users/signup', {
      email: 'else@elsewhere.example',
      password: 'elsewhere passphrase',
      firstname: 'Eli',
      lastname: 'Else',
      organizationName: 'Elsewhere',
    });
    const otherToken = other.body['token'] as string;
    expect((await api('GET', `/api/patients/${id}`, undefined, otherToken)).status).toBe(404);

    // A referral for the patient, received and approved through the gateway in patients; the approval crosses Kafka
    // into the journey, and the other clinic cannot see it.
    const referral = await api(
      'POST',
      '/api/referrals',
      { patient: id, provider: provider.body['_id'], facility: facility.body['_id'], appointmentType: type.body['_id'] },
      token,
    );
    expect(referral.status, JSON.stringify(referral.body)).toBe(200);
    expect(referral.body).toMatchObject({ patient: id, status: 'pending', source: 'ui' });
    const referralId = referral.body['_id'] as string;
    const approved = await api('POST', `/api/referrals/${referralId}/approve`, undefined, token);
    expect([approved.status, approved.body['status']]).toEqual([200, 'active']);
    expect((await api('GET', `/api/referrals/${referralId}`, undefined, token)).body).toMatchObject({ _id: referralId, status: 'active' });
    expect((await api('GET', `/api/referrals/${referralId}`, undefined, otherToken)).status).toBe(404);
    await waitFor(
      async () =>
        ((await api('GET', `/api/patients/${id}/journey`, undefined, token)).body['response'] as Array<{ type: string }>).some(
          (entry) => entry.type === 'referral.status-changed',
        ),
      { timeoutMs: 30_000, message: 'referral.status-changed travels through Kafka to the journey' },
    );

    // The v1 booking body's `user`: scheduling asks auth, in its own process, whether it is a user of the organization.
    const colleague = await api('POST', '/api/users', { email: 'desk@distributed.example', firstname: 'Dana', lastname: 'Desk' }, token);
    expect(colleague.status).toBe(200);
    const v1Booking = (user: string, date: string) => ({
      ...slot,
      type: undefined,
      source: 'manual',
      duration: '15',
      status: 'unconfirmed',
      user,
      patient: id,
      date,
    });
    const byColleague = await api('POST', '/api/appointments', v1Booking(colleague.body['_id'], '2030-03-11T14:00:00.000Z'), token);
    expect(byColleague.status, JSON.stringify(byColleague.body)).toBe(200);
    expect(byColleague.body['user']).toBe(signup.body['organization']._id);
    const byStranger = await api('POST', '/api/appointments', v1Booking(other.body['user']._id, '2030-03-11T15:00:00.000Z'), token);
    expect(byStranger.status).toBe(404);
    expect(byStranger.body['errors']).toEqual([expect.objectContaining({ field: 'body.user' })]);
    const organizationId = signup.body['organization']._id as string;
    expect((await api('GET', `/api/organizations/${organizationId}`, undefined, otherToken)).status).toBe(404);

    // Billing opens the organization's account when auth's organization.created reaches it through Kafka.
    await waitFor(async () => (await api('GET', '/api/billing', undefined, token)).status === 200, {
      timeoutMs: 30_000,
      message: 'organization.created travels from auth to billing through Kafka',
    });
    expect((await api('GET', '/api/billing', undefined, token)).body).toMatchObject({
      organization: organizationId,
      status: 'sandbox',
      stripeCustomerId: null,
    });
    expect((await api('GET', `/api/billing/charges/last-status/${organizationId}`, undefined, otherToken)).status).toBe(404);
    expect((await api('GET', `/api/patients/${id}`)).status).toBe(401);
  });

  it('routes Bandwidth’s reply webhook at the host root to messaging, which without credentials believes the address the gateway signed', async () => {
    const callback = (id: string) =>
      JSON.stringify([
        {
          type: 'message-received',
          to: '+14155550100',
          message: { id, from: '+14155550199', to: ['+14155550100'], text: 'C', direction: 'in', segmentCount: 1 },
        },
      ]);
    const post = (base: string, id: string, headers: Record<string, string> = {}) =>
      fetch(`${base}/webhooks/reply/bandwidth/sms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: callback(id),
      });
    const messaging = services.find((service) => service.name === 'messaging')!;
    // A number no patient has: read, recorded nowhere; what matters is who may post it.
    const viaGateway = await post(gateway.url, 'bw-e2e-1', { 'x-internal-client-address': 'claimed-by-the-client' });
    expect(viaGateway.status).toBe(200);
    expect(await viaGateway.json()).toEqual({ received: 1, ignored: 0 });
    expect((await post(messaging.url, 'bw-e2e-2')).status).toBe(200);
    expect((await post(messaging.url, 'bw-e2e-3', { 'x-internal-client-address': 'forged' })).status).toBe(403);
    const document = (await api('GET', '/api/docs/json')).body as { paths: Record<string, Record<string, unknown>> };
    expect(document.paths['/webhooks/reply/bandwidth/sms']?.['post']).toMatchObject({ 'x-service': 'messaging' });
  });

  it(
    'makes a platform operator with the built operator command, who creates a demo account seeded through the gateway and sends it a sample',
    { timeout: 120_000 },
    async () => {
      const signup = await api('POST', '/api/users/signup', {
        email: 'ops@distributed.example',
        password: 'operator passphrase 1',
        firstname: 'Opal',
        lastname: 'Ops',
        organizationName: 'Operators',
      });
      expect(signup.status).toBe(200);
      const command = spawnSync(
        process.execPath,
        [fileURLToPath(new URL('../../../services/auth/dist/operator-cli.js', import.meta.url)), 'add', 'ops@distributed.example'],
        {
          env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: authDatabaseUrl },
          encoding: 'utf8',
        },
      );
      expect(command.stdout, command.stderr).toBe('ops@distributed.example is now a platform operator\n');
      const token = (await api('POST', '/api/users/login', { email: 'ops@distributed.example', password: 'operator passphrase 1' })).body[
        'token'
      ] as string;
      const created = await api(
        'POST',
        '/api/demoUsers',
        {
          email: 'prospect@distributed.example',
          firstname: 'Pia',
          lastname: 'Prospect',
          salesforceId: 'SFDISTRIB01',
          demoConfiguration: { patients: 4, providers: 2, facilities: 1, waitlists: 1, appointments: 2, phone: '+14155550177' },
        },
        token,
      );
      expect(created.status, JSON.stringify(created.body)).toBe(200);
      const practice = created.body['demoPractice'];
      expect([
        practice.providers.length,
        practice.facilities.length,
        practice.patients.length,
        practice.waitlists.length,
        practice.appointments.length,
      ]).toEqual([2, 1, 4, 1, 2]);
      const sample = await api('POST', '/api/demoUsers/SFDISTRIB01/messages/patientReminder', undefined, token);
      expect(sample.body).toMatchObject({ messageTemplate: 'patientReminder', patient: practice.demoPatient, status: 'requested' });
      const link = new URL(created.body['sampleLinks'].customActionRecall as string);
      const page = await fetch(`${gateway.url}${link.pathname}${link.search}`, { headers: { accept: 'text/html' } });
      expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    },
  );

  it(
    'serves again at once after messaging is killed with kill -9 and started with the same command, and consumes again',
    { timeout: 180_000 },
    async () => {
      const signup = await api('POST', '/api/users/signup', {
        email: 'restart@distributed.example',
        password: 'restart passphrase',
        firstname: 'Rae',
        lastname: 'Start',
        organizationName: 'Restart Clinic',
      });
      expect(signup.status).toBe(200);
      const token = signup.body['token'] as string;
      const created = async (path: string, body: unknown) => {
        const answer = await api('POST', path, body, token);
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        return answer.body['_id'] as string;
      };
      const patient = await created('/api/patients', { firstname: 'Kim', lastname: 'Restarted', phone: '+12125550160' });
      const slot = {
        patient,
        provider: await created('/api/providers', { firstname: 'Ida', lastname: 'Restart' }),
        facility: await created('/api/facilities', { name: 'Restart Street', timeZone: 'America/New_York' }),
        type: await created('/api/appointmentTypes', { name: 'Follow-up', duration: 30 }),
      };
      const remindersOf = async (appointment: string) => {
        const answer = await api('GET', `/api/reminders/findByApptId/${appointment}`, undefined, token);
        return answer.status === 200 ? (answer.body['response'] as unknown[]).length : -1;
      };
      const before = await created('/api/appointments', { ...slot, date: '2031-05-05T14:00:00.000Z' });
      await waitFor(async () => (await remindersOf(before)) > 0, {
        timeoutMs: 60_000,
        message: 'messaging plans reminders before the kill',
      });

      const index = services.findIndex((service) => service.name === 'messaging');
      await services[index]!.kill();
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      // Its dead member still holds messaging's consumer groups until its session times out; that must not hold up HTTP.
      const restarted = await services[index]!.restart({ until: 'live' });
      services[index] = restarted;
      const ready = await fetch(`${restarted.url}/health/ready`);
      // Ready (its database answers) and serving, while its groups still wait for the dead member's session to end.
      expect(ready.status).toBe(200);
      const { consumers } = (await ready.json()) as { consumers: Record<string, string> };
      // Every group messaging consumes in (others join as features do), referral outreach among them.
      expect(Object.keys(consumers)).toEqual(
        expect.arrayContaining([
          'messaging.offers',
          'messaging.organization-access',
          'messaging.read-models',
          'messaging.referral-outreach',
          'messaging.reminders',
        ]),
      );
      expect(Object.values(consumers)).toContain('joining');
      expect(await remindersOf(before)).toBeGreaterThan(0);

      // It consumes again once the dead member's session has expired: a booking made now gets its reminders.
      const after = await created('/api/appointments', { ...slot, date: '2031-05-06T14:00:00.000Z' });
      await waitFor(async () => (await remindersOf(after)) > 0, {
        timeoutMs: MESSAGING_SESSION_MS + 30_000,
        intervalMs: 500,
        message: 'the restarted messaging consumes appointment.created',
      });
      await waitFor(async () => ((await (await fetch(`${restarted.url}/health/ready`)).json()) as { status: string }).status === 'ok', {
        timeoutMs: 30_000,
        message: 'every consumer group of the restarted messaging joined',
      });
      expect(restarted.output()).not.toContain('timed out');
    },
  );

  it('stops every process cleanly on SIGTERM, having logged no PHI', async () => {
    for (const service of [...services].reverse())
      expect(await service.stop(), `${service.name}:\n${service.output().slice(-1_500)}`).toBe(0);
    const logs = services.map((service) => service.output()).join('\n');
    for (const phi of [
      'Stributed',
      'Restarted',
      '+12125550160',
      'dee@example.com',
      'lead@distributed.example',
      'distributed passphrase',
      'prospect@distributed.example',
      '+14155550177',
      '4155550177',
    ]) {
      expect(logs).not.toContain(phi);
    }
  });
});
