import { readFileSync } from 'node:fs';

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/**
 * The account the embedded server runs as. PostgreSQL refuses to run as root, so a root process
 * starts it as `postgres` when that account exists (Debian's packages create it) and as `nobody`
 * otherwise; any other user runs it as itself (`undefined`).
 */
export function serverAccount(passwd = '/etc/passwd'): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const accounts = new Map<string, Account>();
  for (const line of readFileSync(passwd, 'utf8').split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name && uid && gid) accounts.set(name, { name, uid: Number(uid), gid: Number(gid) });
  }
  const account = accounts.get('postgres') ?? accounts.get('nobody');
  if (!account) throw new Error('the embedded database cannot run as root and found neither a `postgres` nor a `nobody` account to run as');
  return account;
}
