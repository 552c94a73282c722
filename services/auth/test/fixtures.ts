import { randomUUID } from 'node:crypto';
import type pg from 'pg';

/**
 * Adds a user to another organization with the given roles, as an accepted invitation would (invitations are
 * not built yet, so tests write the membership directly).
 */
export async function addMembership(sql: pg.Client, organization: string, user: string, roles: string[]): Promise<string> {
  const id = randomUUID();
  await sql.query('INSERT INTO organization_membership (id, organization, "user", roles, updated_at) VALUES ($1, $2, $3, $4, now())', [
    id,
    organization,
    user,
    roles,
  ]);
  return id;
}

/** The mails the file mailer wrote to `directory` for `to`, oldest first. */
export async function mailsTo(directory: string, to: string): Promise<Array<{ subject: string; text: string }>> {
  const { readdir, readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { simpleParser } = await import('mailparser');
  const names = (await readdir(directory)).filter((name) => name.endsWith('.eml')).sort();
  const mails = await Promise.all(names.map(async (name) => simpleParser(await readFile(join(directory, name)))));
  return mails
    .filter((mail) => (Array.isArray(mail.to) ? mail.to : [mail.to]).some((address) => address?.text.toLowerCase() === to.toLowerCase()))
    .map((mail) => ({ subject: mail.subject ?? '', text: mail.text ?? '' }));
}

/** A multipart/form-data body with the given file parts, and its content type. */
export function multipartBody(parts: Array<{ field: string; filename: string; contentType: string; data: Buffer }>): {
  payload: Buffer;
  contentType: string;
} {
  const boundary = `----pep${Math.random().toString(16).slice(2)}`;
  const chunks = parts.flatMap((part) => [
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${part.field}"; filename="${part.filename}"\r\nContent-Type: ${part.contentType}\r\n\r\n`,
    ),
    part.data,
    Buffer.from('\r\n'),
  ]);
  return {
    payload: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

/** A 1×1 PNG. */
export const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
