import { randomUUID } from 'node:crypto';
import { kafkaBrokers } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembership, multipartBody, TINY_PNG } from '../test/fixtures.js';
import { bearer, signup, startAuth, type AuthUnderTest, type SignupResult } from '../test/harness.js';

describe('auth service: avatar uploads', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let owner: SignupResult;
  let colleague: SignupResult;
  let colleagueHeaders: Record<string, string>;

  beforeAll(async () => {
    service = await startAuth('avatars', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    owner = await signup(service.app);
    colleague = await signup(service.app);
    await addMembership(sql, owner.organization._id, colleague.user._id, ['staff']);
    const switched = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${owner.organization._id}/users/${colleague.user._id}/switch`,
      headers: await bearer(colleague.token),
    });
    colleagueHeaders = await bearer(switched.json().token);
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const upload = async (
    id: string,
    headers: Record<string, string>,
    parts = [{ field: 'file', filename: 'me.png', contentType: 'image/png', data: TINY_PNG }],
  ) => {
    const { payload, contentType } = multipartBody(parts);
    return service.app.inject({
      method: 'PUT',
      url: `/api/users/${id}/upload`,
      headers: { ...headers, 'content-type': contentType },
      payload,
    });
  };

  it('stores the image, sets the avatar path, serves it and publishes user.updated', async () => {
    const response = await upload(colleague.user._id, colleagueHeaders);
    expect(response.statusCode).toBe(200);
    const avatar = response.json().avatar as string;
    expect(avatar).toMatch(new RegExp(`^/api/users/${colleague.user._id}/avatar/[0-9a-f-]{36}$`));
    const image = await service.app.inject({ url: avatar });
    expect(image.statusCode).toBe(200);
    expect(image.headers['content-type']).toBe('image/png');
    expect(image.headers['x-content-type-options']).toBe('nosniff');
    expect(image.rawPayload.equals(TINY_PNG)).toBe(true);
    const { rows } = await sql.query("SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' = 'user.updated' ORDER BY seq", [
      colleague.user._id,
    ]);
    expect(rows.at(-1).envelope.data.changed).toEqual(['avatar']);
    // Kept per organization: the colleague's own organization shows no avatar.
    expect(
      (await service.app.inject({ url: `/api/users/${colleague.user._id}`, headers: await bearer(colleague.token) })).json().avatar,
    ).toBeNull();

    // An admin replaces it; the old path is gone.
    const replaced = await upload(colleague.user._id, await bearer(owner.token), [
      { field: 'file', filename: 'x.gif', contentType: 'image/gif', data: Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1') },
    ]);
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json().avatar).not.toBe(avatar);
    expect((await service.app.inject({ url: avatar })).statusCode).toBe(404);
    expect((await service.app.inject({ url: replaced.json().avatar })).headers['content-type']).toBe('image/gif');
  });

  it('lets only the user or an admin change it', async () => {
    expect((await upload(owner.user._id, colleagueHeaders)).statusCode).toBe(403);
    expect((await upload(owner.user._id, {})).statusCode).toBe(401);
  });

  it('refuses what is no image, too large, or not multipart, naming the field', async () => {
    const headers = await bearer(owner.token);
    const script = await upload(owner.user._id, headers, [
      { field: 'file', filename: 'me.png', contentType: 'image/png', data: Buffer.from('<svg onload="alert(1)"/>') },
    ]);
    expect(script.statusCode).toBe(415);
    expect(script.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(script.json().errors).toEqual([{ field: 'body.file', message: expect.stringContaining('image/png') }]);

    const huge = await upload(owner.user._id, headers, [
      { field: 'file', filename: 'big.png', contentType: 'image/png', data: Buffer.concat([TINY_PNG, Buffer.alloc(1_000_001)]) },
    ]);
    expect(huge.statusCode).toBe(413);
    expect(huge.json().errors).toEqual([{ field: 'body.file', message: 'at most 1000000 bytes' }]);

    const json = await service.app.inject({ method: 'PUT', url: `/api/users/${owner.user._id}/upload`, headers, payload: { avatar: 'x' } });
    expect(json.statusCode).toBe(415);
    expect(json.json().errors).toEqual([{ field: 'body', message: 'multipart/form-data expected' }]);

    const wrongField = await upload(owner.user._id, headers, [
      { field: 'picture', filename: 'me.png', contentType: 'image/png', data: TINY_PNG },
    ]);
    expect(wrongField.statusCode).toBe(400);
    expect(wrongField.json().errors[0].field).toBe('body.picture');
    const badId = await upload('not-a-uuid', headers);
    expect(badId.statusCode).toBe(400);
    expect(badId.json().errors[0].field).toBe('params.id');
    const { rows } = await sql.query('SELECT count(*)::int AS n FROM avatar WHERE "user" = $1', [owner.user._id]);
    expect(rows[0].n).toBe(0);
  });

  it('answers an upload it refuses before reading it (unknown user) with its 404 problem over a real connection, not a reset', async () => {
    // A real client through a listening server: inject() hands the whole body over at once and never sees a reset.
    const address = await service.app.listen({ host: '127.0.0.1', port: 0 });
    const headers = await bearer(owner.token);
    const image = Buffer.concat([TINY_PNG, Buffer.alloc(900_000, 7)]);
    // The accepted upload after the refused ones shows the server still reads well-formed requests afterwards.
    for (const [id, status] of [
      [randomUUID(), 404],
      [randomUUID(), 404],
      [owner.user._id, 200],
    ] as const) {
      const { payload, contentType } = multipartBody([{ field: 'file', filename: 'me.png', contentType: 'image/png', data: image }]);
      const response = await fetch(`${address}/api/users/${id}/upload`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': contentType },
        body: payload,
      });
      expect(response.status, id).toBe(status);
      if (status === 404) {
        expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(await response.json()).toMatchObject({ status: 404 });
      } else await response.arrayBuffer();
    }
  });
});
