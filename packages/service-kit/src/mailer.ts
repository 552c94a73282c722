import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';

/** Where outgoing mail goes: an SMTP server, or .eml files in a folder (embedded runtime, no SMTP at hand). */
export type MailerConfig = { from: string } & ({ smtpUrl: string } | { directory: string });

/** One plain-text e-mail. */
export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/** Sends e-mail; the port the service talks to instead of nodemailer. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/** A nodemailer-backed {@link Mailer} (SMTP_URL, or MAIL_DIR for .eml files), as every service that mails configures it. */
export function createMailer(config: MailerConfig): Mailer {
  if ('smtpUrl' in config) {
    const transport: Transporter = nodemailer.createTransport(config.smtpUrl);
    return {
      async send(mail) {
        await transport.sendMail({ from: config.from, ...mail });
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(mail) {
      const info = await transport.sendMail({ from: config.from, ...mail });
      await mkdir(config.directory, { recursive: true });
      await writeFile(
        join(config.directory, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.eml`),
        info.message as Buffer,
        {
          mode: 0o600,
        },
      );
    },
    close: () => transport.close(),
  };
}

/**
 * What of a failed send may be logged: SMTP's codes and the command that failed, never the message, which quotes the
 * server's answer and with it, often, the recipient's address.
 */
export function mailFailure(error: unknown): { code?: string; responseCode?: number; command?: string } {
  const { code, responseCode, command } = (error ?? {}) as { code?: string; responseCode?: number; command?: string };
  return { code, responseCode, command };
}
