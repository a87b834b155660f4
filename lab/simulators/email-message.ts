import type { EmailMessage } from './ledger.ts';

/** What the simulator keeps of a posted email, and the Message-ID it can deduplicate by. */
export interface ReadEmail extends EmailMessage {
  messageId?: string;
}

/**
 * Reads a raw RFC 822 message (what nodemailer's stream transports produce) or a JSON
 * {to, subject, messageId?, ...}. Only the headers the log shows are parsed; the rest is counted.
 * Returns a reason string when the body is neither.
 */
export function readEmail(body: unknown): ReadEmail | string {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = String(body);
    const headers = parseHeaders(text);
    if (!headers.size) return 'the raw message has no headers';
    return { to: headers.get('to') ?? '', subject: headers.get('subject') ?? '', bytes: Buffer.byteLength(text), messageId: headers.get('message-id') };
  }
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const fields = body as Record<string, unknown>;
    const to = Array.isArray(fields.to) ? fields.to.map(String).join(', ') : fields.to;
    if (typeof to !== 'string' || !to) return 'a JSON email needs "to"';
    const messageId = typeof fields.messageId === 'string' ? fields.messageId : undefined;
    return { to, subject: typeof fields.subject === 'string' ? fields.subject : '', bytes: Buffer.byteLength(JSON.stringify(body)), messageId };
  }
  return 'send a raw RFC 822 message or a JSON object';
}

function parseHeaders(text: string): Map<string, string> {
  const end = text.search(/\r?\n\r?\n/);
  const block = end === -1 ? text : text.slice(0, end);
  // Unfold continuation lines (RFC 5322 §2.2.3) before splitting into fields.
  const lines = block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}
