import { randomUUID } from 'node:crypto';
import { createEvent, patientCreatedV1, patientDeletedV1, patientUpdatedV1 } from '@pep/contracts';
import { signIdentity } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembership, mailsTo } from '../test/fixtures.js';
import { bearer, SECRET, signup, startAuth, type AuthUnderTest } from '../test/harness.js';
import { PATIENT_CODE_MESSAGE } from './patient-login.service.js';

describe('auth service: provider, patient and widget logins', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startAuth('logins', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  let addressCounter = 0;
  /** A fresh client address, so one test's failures do not limit another's. */
  const nextAddress = () => `203.0.113.${(addressCounter += 1)}`;
  const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    service.app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });

  describe('providers', () => {
    it('logs a provider in with a provider-only token of kind provider, and refuses everyone else alike', async () => {
      const owner = await signup(service.app);
      const address = nextAddress();
      // The owner is admin only: right password, but no provider anywhere, answers as a wrong password does.
      const notProvider = await call(
        'POST',
        '/api/providers/login',
        { email: owner.email, password: owner.password },
        { 'x-forwarded-for': address },
      );
      const wrong = await call(
        'POST',
        '/api/providers/login',
        { email: owner.email, password: 'not the password' },
        { 'x-forwarded-for': address },
      );
      const unknown = await call(
        'POST',
        '/api/providers/login',
        { email: 'nobody@nowhere.example', password: 'whatever it is' },
        { 'x-forwarded-for': address },
      );
      const staffLogin = await call(
        'POST',
        '/api/users/login',
        { email: 'nobody@nowhere.example', password: 'whatever it is' },
        { 'x-forwarded-for': address },
      );
      for (const refused of [notProvider, wrong, unknown]) {
        expect(refused.statusCode).toBe(401);
        expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
        const { instance: _i, requestId: _r, ...body } = refused.json();
        const { instance: _si, requestId: _sr, ...staffBody } = staffLogin.json();
        expect(body).toEqual(staffBody);
      }

      // Made a provider of a second organization, the same user logs in there as a provider.
      const other = await signup(service.app);
      await addMembership(sql, other.organization._id, owner.user._id, ['provider', 'staff']);
      const login = await call(
        'POST',
        '/api/providers/login',
        { email: owner.email.toUpperCase(), password: owner.password },
        { 'x-forwarded-for': nextAddress() },
      );
      expect(login.statusCode).toBe(200);
      const session = login.json();
      expect(session).not.toHaveProperty('refreshToken');
      expect(session.user).toMatchObject({ _id: owner.user._id, organization: other.organization._id, roles: ['provider', 'staff'] });
      const claims = decodeJwt(session.token);
      expect(claims).toMatchObject({ sub: owner.user._id, org: other.organization._id, roles: ['provider'], kind: 'provider' });
      const validated = await call('GET', '/api/tokens/validate', undefined, { authorization: `Bearer ${session.token}` });
      expect(validated.json()).toMatchObject({ kind: 'provider', roles: ['provider'] });
      // The provider token is no admin token, even though the user administers their first organization.
      expect(
        (await call('POST', '/api/users', { email: 'x@y.example', firstname: 'X', lastname: 'Y' }, await bearer(session.token))).statusCode,
      ).toBe(403);
    });

    it('shares the login limits of users/login and validates the body', async () => {
      const owner = await signup(service.app);
      const address = nextAddress();
      for (let attempt = 0; attempt < 5; attempt += 1) {
        expect(
          (await call('POST', '/api/providers/login', { email: owner.email, password: 'wrong password' }, { 'x-forwarded-for': address }))
            .statusCode,
        ).toBe(401);
      }
      const limited = await call(
        'POST',
        '/api/users/login',
        { email: owner.email, password: owner.password },
        { 'x-forwarded-for': address },
      );
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(
        (await call('POST', '/api/providers/login', { email: owner.email, password: owner.password }, { 'x-forwarded-for': nextAddress() }))
          .statusCode,
      ).toBe(429);

      const bad = await call('POST', '/api/providers/login', { email: owner.email, password: 'x', role: 'admin' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().errors).toEqual([{ field: 'body.role', message: 'unknown field' }]);
      const missing = await call('POST', '/api/providers/login', { email: owner.email });
      expect(missing.json().errors.map((error: { field: string }) => error.field)).toEqual(['body.password']);
    });
  });

  describe('patients', () => {
    const publishPatient = async (
      organization: string,
      data: { _id: string; email: string | null },
      type: 'created' | 'updated' = 'created',
    ) => {
      const snapshot = { firstname: 'Pat', lastname: 'Private', phone: null, dateOfBirth: null, doNotContact: false, ...data };
      const event =
        type === 'created'
          ? createEvent(patientCreatedV1, { source: '/services/patients', organization, subject: data._id, data: snapshot })
          : createEvent(patientUpdatedV1, {
              source: '/services/patients',
              organization,
              subject: data._id,
              data: { ...snapshot, changed: ['email'] },
            });
      await service.bus.publish([{ topic: patientCreatedV1.topic, key: data._id, value: JSON.stringify(event) }]);
    };
    const accountOf = async (patient: string) => (await sql.query('SELECT * FROM patient_account WHERE patient = $1', [patient])).rows[0];
    const codeIn = async (email: string, count: number) => {
      const mails = await waitFor(
        async () => {
          const found = await mailsTo(service.mailDir, email);
          return found.length >= count ? found : undefined;
        },
        { timeoutMs: 10_000 },
      );
      return /\b(\d{6})\b/.exec(mails[count - 1]!.text)![1]!;
    };
    const login = (payload: Record<string, unknown>, address = '198.51.100.7') =>
      call('POST', '/api/patients/login', payload, { 'x-forwarded-for': address });

    it('mails a code to a patient of the organization, and exchanges it once for a token of that one patient', async () => {
      const clinic = await signup(service.app);
      const organization = clinic.organization._id;
      const patient = randomUUID();
      await publishPatient(organization, { _id: patient, email: 'Pat.Private@Mail.Example' });
      await waitFor(async () => (await accountOf(patient)) !== undefined, { timeoutMs: 20_000 });
      expect(await accountOf(patient)).toMatchObject({ organization, email: 'pat.private@mail.example', deleted: false });

      // Known and unknown e-mails get the same answer; only the known one gets a mail.
      const asked = await login({ organization, email: 'pat.private@mail.example' }, nextAddress());
      const stranger = await login({ organization, email: 'stranger@mail.example' }, nextAddress());
      expect(asked.statusCode).toBe(200);
      expect(asked.json()).toEqual({ message: PATIENT_CODE_MESSAGE, expiresIn: 600 });
      expect(stranger.json()).toEqual(asked.json());
      const code = await codeIn('pat.private@mail.example', 1);
      expect(await mailsTo(service.mailDir, 'stranger@mail.example')).toEqual([]);

      // Another organization's id with the same e-mail reaches nobody.
      const elsewhere = await signup(service.app);
      expect(
        (await login({ organization: elsewhere.organization._id, email: 'pat.private@mail.example', code }, nextAddress())).statusCode,
      ).toBe(401);

      const wrong = await login(
        { organization, email: 'pat.private@mail.example', code: code === '000000' ? '111111' : '000000' },
        nextAddress(),
      );
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json()).toMatchObject({ type: '/problems/invalid-credentials' });
      const session = await login({ organization, email: 'PAT.PRIVATE@mail.example', code }, nextAddress());
      expect(session.statusCode).toBe(200);
      expect(session.json()).toMatchObject({ patient, organization, expiresIn: 900 });
      expect(session.json()).not.toHaveProperty('refreshToken');
      expect(decodeJwt(session.json().token)).toMatchObject({ sub: patient, org: organization, roles: ['patient'], kind: 'patient' });
      // A code works once.
      expect((await login({ organization, email: 'pat.private@mail.example', code }, nextAddress())).statusCode).toBe(401);
      // A patient token opens no staff route.
      expect((await call('GET', '/api/users', undefined, await bearer(session.json().token))).statusCode).toBe(403);
      // The code and e-mail never reach the logs' tables: codes are kept as hashes only.
      const { rows } = await sql.query('SELECT code_hash FROM patient_login_code WHERE organization = $1', [organization]);
      expect(rows.map((row) => row.code_hash)).not.toContain(code);
    });

    it('asks which patient when several share an e-mail, and forgets deleted ones', async () => {
      const clinic = await signup(service.app);
      const organization = clinic.organization._id;
      const [parent, child] = [randomUUID(), randomUUID()].sort();
      await publishPatient(organization, { _id: parent!, email: 'family@mail.example' });
      await publishPatient(organization, { _id: child!, email: null });
      await publishPatient(organization, { _id: child!, email: 'family@mail.example' }, 'updated');
      await waitFor(async () => (await accountOf(child!))?.email === 'family@mail.example', { timeoutMs: 20_000 });

      await login({ organization, email: 'family@mail.example' }, nextAddress());
      const code = await codeIn('family@mail.example', 1);
      const ambiguous = await login({ organization, email: 'family@mail.example', code }, nextAddress());
      expect(ambiguous.statusCode).toBe(409);
      expect(ambiguous.json().patients).toEqual([parent, child]);
      const stranger = await login({ organization, email: 'family@mail.example', code, patient: randomUUID() }, nextAddress());
      expect(stranger.statusCode).toBe(401);
      const chosen = await login({ organization, email: 'family@mail.example', code, patient: child }, nextAddress());
      expect(chosen.statusCode).toBe(200);
      expect(decodeJwt(chosen.json().token).sub).toBe(child);

      const deleted = createEvent(patientDeletedV1, { source: '/services/patients', organization, subject: child!, data: { _id: child! } });
      await service.bus.publish([{ topic: patientDeletedV1.topic, key: child!, value: JSON.stringify(deleted) }]);
      await waitFor(async () => (await accountOf(child!)).deleted === true, { timeoutMs: 20_000 });
      await login({ organization, email: 'family@mail.example' }, nextAddress());
      const second = await codeIn('family@mail.example', 2);
      expect((await login({ organization, email: 'family@mail.example', code: second, patient: child }, nextAddress())).statusCode).toBe(
        401,
      );
    });

    it('kills a code after five wrong tries and limits codes and tries per account and address', async () => {
      const clinic = await signup(service.app);
      const organization = clinic.organization._id;
      const patient = randomUUID();
      await publishPatient(organization, { _id: patient, email: 'guessed@mail.example' });
      await waitFor(async () => (await accountOf(patient)) !== undefined, { timeoutMs: 20_000 });
      await login({ organization, email: 'guessed@mail.example' }, nextAddress());
      const code = await codeIn('guessed@mail.example', 1);
      const wrongCode = code === '123456' ? '654321' : '123456';
      // From five addresses, so the per-account limit is what stops the guessing.
      for (let attempt = 0; attempt < 5; attempt += 1) {
        expect((await login({ organization, email: 'guessed@mail.example', code: wrongCode }, nextAddress())).statusCode).toBe(401);
      }
      const limited = await login({ organization, email: 'guessed@mail.example', code }, nextAddress());
      expect(limited.statusCode).toBe(429);
      // Past the window the right code is still dead: it was guessed at five times.
      service.clock.advance(16 * 60_000);
      expect((await login({ organization, email: 'guessed@mail.example', code }, nextAddress())).statusCode).toBe(401);

      // Code requests: five per account per hour.
      for (let request = 0; request < 5; request += 1)
        expect((await login({ organization, email: 'flood@mail.example' }, nextAddress())).statusCode).toBe(200);
      expect((await login({ organization, email: 'flood@mail.example' }, nextAddress())).statusCode).toBe(429);
    });

    it('lets no more than five tries of a code through when they all arrive at once', async () => {
      const clinic = await signup(service.app);
      const organization = clinic.organization._id;
      const patient = randomUUID();
      await publishPatient(organization, { _id: patient, email: 'burst@mail.example' });
      await waitFor(async () => (await accountOf(patient)) !== undefined, { timeoutMs: 20_000 });
      await login({ organization, email: 'burst@mail.example' }, nextAddress());
      const code = await codeIn('burst@mail.example', 1);
      // Forty wrong guesses and the right code together, each from its own address.
      const guesses = Array.from({ length: 40 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'));
      guesses.splice(20, 0, code);
      const answers = await Promise.all(
        guesses.map((guess, i) => login({ organization, email: 'burst@mail.example', code: guess }, `198.18.7.${i + 1}`)),
      );
      const admitted = answers.filter((answer) => answer.statusCode !== 429);
      expect(admitted.length).toBeLessThanOrEqual(5);
      const { rows } = await sql.query('SELECT attempts FROM patient_login_code WHERE organization = $1', [organization]);
      expect(rows[0].attempts).toBeLessThanOrEqual(5);
    });

    it('answers 400 naming the field', async () => {
      const bad = await login({ organization: 'not-a-uuid', email: 'a@b.example', code: '12ab' });
      expect(bad.statusCode).toBe(400);
      expect(
        bad
          .json()
          .errors.map((error: { field: string }) => error.field)
          .sort(),
      ).toEqual(['body.code', 'body.organization']);
      expect((await login({ organization: randomUUID(), email: 'a@b.example', password: 'x' })).json().errors).toEqual([
        { field: 'body.password', message: 'unknown field' },
      ]);
    });
  });

  describe('widgets', () => {
    it('lets admins register widget keys that log in as the widget role, held to their origins', async () => {
      const clinic = await signup(service.app, { organizationName: 'Widget Clinic' });
      const admin = await bearer(clinic.token);
      const staffIdentity = {
        'x-internal-identity': await signIdentity(SECRET, {
          organization: clinic.organization._id,
          user: clinic.user._id,
          roles: ['staff'],
        }),
      };
      expect((await call('POST', '/api/widgets', { name: 'Booking' }, staffIdentity)).statusCode).toBe(403);
      expect((await call('POST', '/api/widgets', { name: 'Booking' })).statusCode).toBe(401);
      const invalid = await call('POST', '/api/widgets', { name: 'Booking', allowedOrigins: ['javascript:alert(1)'] }, admin);
      expect(invalid.statusCode).toBe(400);
      expect(invalid.json().errors[0].field).toBe('body.allowedOrigins.0');

      const created = await call('POST', '/api/widgets/', { name: 'Booking', allowedOrigins: ['https://Clinic.Example'] }, admin);
      expect(created.statusCode).toBe(200);
      const widget = created.json();
      expect(widget).toMatchObject({
        name: 'Booking',
        organization: clinic.organization._id,
        allowedOrigins: ['https://clinic.example'],
        active: true,
        createdBy: clinic.user._id,
      });
      expect(widget.key).toMatch(/^wk_/);
      expect((await call('GET', '/api/widgets', undefined, admin)).json()).toMatchObject({ total: 1, response: [{ _id: widget._id }] });
      const { rows } = await sql.query("SELECT envelope->>'type' AS type FROM outbox WHERE key = $1 ORDER BY seq", [widget._id]);
      expect(rows.map((row) => row.type)).toEqual(['widget.created']);

      // From a page the widget does not allow, or with no Origin, the key does not log in.
      const address = nextAddress();
      expect(
        (await call('POST', '/api/widgets/login', { key: widget.key }, { 'x-forwarded-for': address, origin: 'https://evil.example' }))
          .statusCode,
      ).toBe(401);
      expect((await call('POST', '/api/widgets/login', { key: widget.key }, { 'x-forwarded-for': address })).statusCode).toBe(401);
      expect(
        (await call('POST', '/api/widgets/login', { key: 'wk_unknown' }, { 'x-forwarded-for': address, origin: 'https://clinic.example' }))
          .statusCode,
      ).toBe(401);
      const login = await call(
        'POST',
        '/api/widgets/login',
        { key: widget.key },
        { 'x-forwarded-for': address, origin: 'https://clinic.example' },
      );
      expect(login.statusCode).toBe(200);
      expect(login.json().expiresIn).toBe(900);
      expect(decodeJwt(login.json().token)).toMatchObject({
        sub: widget._id,
        org: clinic.organization._id,
        roles: ['widget'],
        kind: 'widget',
      });

      const asWidget = await bearer(login.json().token);
      const profile = await call('GET', '/api/widgets/user', undefined, asWidget);
      expect(profile.statusCode).toBe(200);
      expect(profile.json()).toEqual({
        _id: widget._id,
        name: 'Booking',
        type: 'widget',
        roles: ['widget'],
        organization: { _id: clinic.organization._id, name: 'Widget Clinic', active: true },
      });
      // The widget role opens nothing else, and staff are no widget.
      expect((await call('GET', '/api/users', undefined, asWidget)).statusCode).toBe(403);
      expect((await call('GET', '/api/widgets', undefined, asWidget)).statusCode).toBe(403);
      expect((await call('GET', '/api/widgets/user', undefined, admin)).statusCode).toBe(403);
      expect((await call('GET', '/api/widgets/user')).statusCode).toBe(401);

      // Deactivated, it logs in no more and its tokens no longer find it.
      const off = await call('PUT', `/api/widgets/${widget._id}`, { active: false }, admin);
      expect(off.json()).toMatchObject({ active: false });
      expect(
        (
          await call(
            'POST',
            '/api/widgets/login',
            { key: widget.key },
            { 'x-forwarded-for': nextAddress(), origin: 'https://clinic.example' },
          )
        ).statusCode,
      ).toBe(401);
      expect((await call('GET', '/api/widgets/user', undefined, asWidget)).statusCode).toBe(401);
      const bad = await call('PUT', `/api/widgets/${widget._id}`, { key: 'mine' }, admin);
      expect(bad.json().errors).toContainEqual({ field: 'body.key', message: 'unknown field' });
    });

    it('opens to any origin when none is listed, and limits logins per address', async () => {
      const clinic = await signup(service.app);
      const widget = (await call('POST', '/api/widgets', { name: 'Anywhere' }, await bearer(clinic.token))).json();
      const address = nextAddress();
      for (let login = 0; login < 60; login += 1) {
        expect((await call('POST', '/api/widgets/login', { key: widget.key }, { 'x-forwarded-for': address })).statusCode).toBe(200);
      }
      expect((await call('POST', '/api/widgets/login', { key: widget.key }, { 'x-forwarded-for': address })).statusCode).toBe(429);
      expect((await call('POST', '/api/widgets/login', {}, { 'x-forwarded-for': nextAddress() })).json().errors).toEqual([
        { field: 'body.key', message: expect.any(String) },
      ]);
    });
  });
});
