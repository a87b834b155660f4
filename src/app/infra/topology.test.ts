import { describe, expect, it } from 'vitest';
import { createTopology, serverUrl } from './topology.ts';

describe('createTopology', () => {
  it('lays out main, two replicas of it and four shards from one base port under one directory', () => {
    const specs = createTopology('/data/infra', 60000);
    expect(specs.map((s) => `${s.name}:${s.role}:${s.port}:${s.primary ?? ''}`)).toEqual([
      'main:primary:60000:',
      'replica-1:replica:60001:main',
      'replica-2:replica:60002:main',
      'shard-0:shard:60010:',
      'shard-1:shard:60011:',
      'shard-2:shard:60012:',
      'shard-3:shard:60013:',
    ]);
    expect(specs.every((s) => s.dataDir === `/data/infra/pg/${s.name}`)).toBe(true);
    expect(serverUrl(specs[3]!)).toBe('postgres://postgres@127.0.0.1:60010/scalemart');
  });

  it('defaults main to port 15432', () => {
    expect(createTopology('/x')[0]?.port).toBe(15432);
  });
});
