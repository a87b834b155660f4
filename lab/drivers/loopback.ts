import { isIPv4 } from 'node:net';

/**
 * Load is only ever sent to this machine: a driver pointed anywhere else (a typo, an env var
 * leaking a real host) fails before sending one request.
 */
export function isLoopbackUrl(url: string): boolean {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return false;
  }
  if (hostname === 'localhost' || hostname === '[::1]') return true;
  return isIPv4(hostname) && hostname.startsWith('127.');
}

export function assertLoopback(url: string): void {
  if (!isLoopbackUrl(url)) throw new Error(`load lab targets loopback addresses only (127.0.0.0/8, ::1, localhost), not ${url}`);
}
