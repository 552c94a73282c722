import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A real SMTP server on a loopback port that keeps every mail it receives, parsed. */
export interface SmtpSink {
  /** Mails received so far, oldest first. */
  inbox: ParsedMail[];
  /** `smtp://127.0.0.1:<port>`, for nodemailer. */
  url: string;
  close(): Promise<void>;
}

/** Starts an {@link SmtpSink}: tests send through the real SMTP protocol and read what arrived. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const inbox: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          inbox.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { inbox, url: `smtp://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
