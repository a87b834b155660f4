import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EDGE_PORT, DEFAULT_NATS_PORT, DEFAULT_REDIS_PORT, ephemeralPortRange, LINUX_DEFAULT_EPHEMERAL, parsePortRange, portsInRange } from './ports.ts';
import { createTopology } from './topology.ts';

const PROC_RANGE = '/proc/sys/net/ipv4/ip_local_port_range';
const defaultPorts = () => [...createTopology('/x').map((s) => s.port), DEFAULT_REDIS_PORT, DEFAULT_NATS_PORT, DEFAULT_EDGE_PORT];

describe('infra default ports', () => {
  it('all lie below Linux’s default ephemeral range', () => {
    expect(portsInRange(defaultPorts(), LINUX_DEFAULT_EPHEMERAL)).toEqual([]);
    expect(Math.max(...defaultPorts())).toBeLessThan(LINUX_DEFAULT_EPHEMERAL.low);
  });

  it.runIf(existsSync(PROC_RANGE))('all lie outside this machine’s ephemeral range, read from /proc', () => {
    const range = ephemeralPortRange(PROC_RANGE);
    expect(range).toBeDefined();
    expect(portsInRange(defaultPorts(), range!)).toEqual([]);
  });
});

describe('parsePortRange', () => {
  it('reads the kernel’s tab-separated pair', () => {
    expect(parsePortRange('32768\t60999\n')).toEqual({ low: 32768, high: 60999 });
  });
  it('refuses what is not a range', () => {
    expect(parsePortRange('')).toBeUndefined();
    expect(parsePortRange('60999 32768')).toBeUndefined();
    expect(parsePortRange('a b')).toBeUndefined();
  });
  it('reports no range when the file is missing', () => {
    expect(ephemeralPortRange('/nonexistent/ip_local_port_range')).toBeUndefined();
  });
});

describe('portsInRange', () => {
  it('names the ports inside the range, bounds included', () => {
    expect(portsInRange([1024, 32768, 55434, 60999, 61000], { low: 32768, high: 60999 })).toEqual([32768, 55434, 60999]);
  });
});
