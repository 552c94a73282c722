import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaBrokers } from '@pep/testing';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, signup, startAuth, type AuthUnderTest } from '../test/harness.js';
import { runOperatorCommand } from './operator.js';

describe('auth service: the operator command makes platform operators, outside the API', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startAuth('operators', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const operator = (...args: string[]) => runOperatorCommand(args, { databaseUrl: service.databaseUrl });
  const login = async (email: string, password: string) => {
    const response = await service.app.inject({ method: 'POST', url: '/api/users/login', payload: { email, password } });
    expect(response.statusCode).toBe(200);
    return response.json().token as string;
  };
  const post = (url: string, headers: Record<string, string>, payload: object) =>
    service.app.inject({ method: 'POST', url, headers, payload });

  it('adds an operator who can then create demo users and mint the sales tooling an integrator key with the operators’ role', async () => {
    const account = await signup(service.app);
    expect(await operator('list')).toEqual(['no platform operators']);
    expect(
      (
        await post('/api/demoUsers', await bearer(await login(account.email, account.password)), {
          email: 'p1@prospect.example',
          firstname: 'P',
          lastname: 'One',
          salesforceId: 'SFOPS00001',
        })
      ).statusCode,
    ).toBe(403);

    expect(await operator('add', account.email.toUpperCase())).toEqual([`${account.email.toUpperCase()} is now a platform operator`]);
    expect(await operator('add', account.email)).toEqual([`${account.email} already was a platform operator`]);
    expect(await operator('list')).toEqual([`${account.email}\t${account.organization.name}`]);

    const token = await login(account.email, account.password);
    expect(decodeJwt(token)['roles']).toEqual(['admin', 'platform-admin']);
    const asOperator = await bearer(token);
    const demo = await post('/api/demoUsers', asOperator, {
      email: 'p1@prospect.example',
      firstname: 'P',
      lastname: 'One',
      salesforceId: 'SFOPS00001',
    });
    expect(demo.statusCode).toBe(200);

    // The sales tooling's key: an integrator client of the operators' organization carrying platform-admin.
    const client = await post('/api/integratorClients', asOperator, { name: 'Sales tooling', roles: ['platform-admin'] });
    expect(client.statusCode).toBe(200);
    expect(client.json()).toMatchObject({ organization: account.organization._id, roles: ['platform-admin'] });
    const keyLogin = await post(
      '/api/integratorClients/login',
      {},
      { clientId: client.json().clientId, clientSecret: client.json().clientSecret },
    );
    expect(keyLogin.statusCode).toBe(200);
    const tooling = await bearer(keyLogin.json().token);
    expect(
      (await post('/api/demoUsers', tooling, { email: 'p2@prospect.example', firstname: 'P', lastname: 'Two', salesforceId: 'SFOPS00002' }))
        .statusCode,
    ).toBe(200);

    // An organization's admin who is no operator cannot hand the role on, by creating or by changing a client.
    const other = await bearer((await signup(service.app)).token);
    const refused = await post('/api/integratorClients', other, { name: 'Sneaky', roles: ['platform-admin'] });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().errors).toEqual([{ field: 'body.roles', message: 'platform-admin needs a platform operator; leave it out' }]);
    const plain = (await post('/api/integratorClients', other, { name: 'Plain' })).json();
    const raised = await service.app.inject({
      method: 'PUT',
      url: `/api/integratorClients/${plain._id}`,
      headers: other,
      payload: { roles: ['platform-admin'] },
    });
    expect(raised.statusCode).toBe(403);
    expect((await sql.query("SELECT count(*)::int AS n FROM integrator_client WHERE 'platform-admin' = ANY(roles)")).rows[0].n).toBe(1);
  });

  it('removes an operator: the role goes and tokens issued before are revoked', async () => {
    const account = await signup(service.app);
    await operator('add', account.email);
    expect(await operator('remove', account.email)).toEqual([`${account.email} is no longer a platform operator`]);
    expect(await operator('remove', account.email)).toEqual([`${account.email} was not a platform operator`]);
    expect(decodeJwt(await login(account.email, account.password))['roles']).toEqual(['admin']);
    const { rows } = await sql.query('SELECT scope, reason FROM access_revocation WHERE subject = $1', [account.user._id]);
    expect(rows).toEqual([{ scope: 'subject', reason: 'sessions-revoked' }]);
  });

  it('says what to do for an unknown e-mail or a wrong command, and changes nothing', async () => {
    await expect(operator('add', 'nobody@nowhere.example')).rejects.toThrow(/sign up first/);
    await expect(operator('promote', 'x@y.example')).rejects.toThrow(/usage: npm run operator -- add\|remove\|list/);
    await expect(operator('add')).rejects.toThrow(/usage/);
  });

  it('refuses to open the embedded data folder while a running platform holds it (PGlite serves one process)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'operator-'));
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(dataDir, 'platform.json'), JSON.stringify({ url: 'http://127.0.0.1:3000', pid: holder.pid }));
      await expect(runOperatorCommand(['list'], { dataDir })).rejects.toThrow(
        `the embedded platform (pid ${holder.pid}) is using ${dataDir}`,
      );
    } finally {
      holder.kill();
    }
    // Once it has stopped (a stale file), the command works on the folder, migrating a fresh one first.
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(await runOperatorCommand(['list'], { dataDir })).toEqual(['no platform operators']);
    await rm(dataDir, { recursive: true, force: true });
  });
});
