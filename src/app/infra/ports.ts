import { readFileSync } from 'node:fs';

/** Redis and NATS: their standard ports, so a server already running there is reused. */
export const DEFAULT_REDIS_PORT = 6379;
export const DEFAULT_NATS_PORT = 4222;
/** The nginx edge balancer of `infra up --edge`. */
export const DEFAULT_EDGE_PORT = 18080;

/** An inclusive port range, e.g. the kernel's ephemeral range. */
export interface PortRange {
  low: number;
  high: number;
}

/** Linux's own default, for machines (or other kernels) where /proc does not say. */
export const LINUX_DEFAULT_EPHEMERAL: PortRange = { low: 32768, high: 60999 };

/** Parses `/proc/sys/net/ipv4/ip_local_port_range` ("32768\t60999\n"); undefined when malformed. */
export function parsePortRange(text: string): PortRange | undefined {
  const [low, high] = text.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(low) || !Number.isInteger(high) || low! > high!) return undefined;
  return { low: low!, high: high! };
}

/**
 * The range the kernel picks outgoing connections' local ports from. A server told to listen on
 * a port inside it can find the port held by any process's outgoing connection (`infra up` on
 * 55432… failed that way once: a replica could not bind 55434), so defaults stay below it.
 */
export function ephemeralPortRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): PortRange | undefined {
  try {
    return parsePortRange(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The ports of `ports` that lie inside `range`, for a warning before servers try to bind them. */
export function portsInRange(ports: readonly number[], range: PortRange): number[] {
  return ports.filter((p) => p >= range.low && p <= range.high);
}
