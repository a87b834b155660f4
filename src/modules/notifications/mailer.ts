import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { request } from 'undici';

export interface Email {
  to: string;
  subject: string;
  text: string;
  /**
   * A stable name, e.g. `<order id>-confirmed`: the file name for the file transport, and the
   * Message-ID and Idempotency-Key when sending, so a resend after a crash (email is at least once)
   * is recognisably the same message: an HTTP mail API drops it, a mail client threads it as one.
   */
  name: string;
}

export interface Mailer {
  send(email: Email): Promise<void>;
}

const FROM = 'Scalemart <orders@scalemart.local>';
const messageIdOf = (email: Email) => `<${email.name}@scalemart.local>`;

/**
 * nodemailer behind one interface. `url` chooses the transport: empty writes `.eml` files under
 * `dir`; `smtp://…` or `smtps://…` sends through a server; `http://…` posts the raw message to an
 * HTTP endpoint (the lab's provider simulator, which can make email slow on purpose).
 */
export function createMailer(options: { url: string; dir: string; timeoutMs?: number }): Mailer {
  if (options.url.startsWith('smtp')) {
    const transport = nodemailer.createTransport(options.url);
    return { send: async (email) => void (await transport.sendMail({ from: FROM, to: email.to, subject: email.subject, text: email.text, messageId: messageIdOf(email) })) };
  }
  // Build the RFC 822 message with nodemailer, then deliver the bytes ourselves.
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  const build = async (email: Email) => (await builder.sendMail({ from: FROM, to: email.to, subject: email.subject, text: email.text, messageId: messageIdOf(email) })).message as Buffer;
  if (options.url.startsWith('http')) {
    return {
      async send(email) {
        const response = await request(options.url, {
          method: 'POST', body: await build(email), headers: { 'content-type': 'message/rfc822', 'idempotency-key': email.name },
          headersTimeout: options.timeoutMs ?? 10_000, bodyTimeout: options.timeoutMs ?? 10_000,
        });
        await response.body.dump();
        // 409: a message under this key was accepted before, with other bytes (a resend builds a new
        // Date header). The key names one logical email, so it has been delivered.
        if (response.statusCode === 409) return;
        if (response.statusCode >= 300) throw new Error(`email endpoint answered ${response.statusCode}`);
      },
    };
  }
  return {
    async send(email) {
      await mkdir(options.dir, { recursive: true });
      await writeFile(path.join(options.dir, `${email.name}.eml`), await build(email));
    },
  };
}
