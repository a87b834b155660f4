import { accessSync, constants, existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ENSURE_NGINX_SCRIPT, ensureNginx } from './edge.ts';

describe('ensureNginx', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scalemart-ensure-nginx-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('points at the project’s executable install script', () => {
    expect(ENSURE_NGINX_SCRIPT.endsWith('/scripts/ensure-nginx.sh')).toBe(true);
    expect(() => accessSync(ENSURE_NGINX_SCRIPT, constants.X_OK)).not.toThrow();
  });

  it('runs the install script only when the binary is missing, then finds it', async () => {
    const marker = join(dir, 'installed');
    const script = join(dir, 'install.sh');
    await writeFile(script, `#!/bin/sh\necho ran >> ${marker}\n`);
    await chmod(script, 0o755);
    // "Installed" once the script has run: the binary is found only after it.
    const find = () => (existsSync(marker) ? '/fake/nginx' : undefined);
    const lines: string[] = [];
    const found = ensureNginx((l) => lines.push(l), find, script);
    await expect(found).resolves.toBe('/fake/nginx');
    expect(await readFile(marker, 'utf8')).toBe('ran\n');
    expect(lines.join('\n')).toMatch(/installing/);
    // Present: nothing runs.
    await expect(ensureNginx(() => {}, () => '/usr/sbin/nginx', join(dir, 'missing.sh'))).resolves.toBe('/usr/sbin/nginx');
  });

  it('fails, naming the script, when the binary is still missing after it', async () => {
    const script = join(dir, 'noop.sh');
    await writeFile(script, '#!/bin/sh\nexit 0\n');
    await chmod(script, 0o755);
    await expect(ensureNginx(() => {}, () => undefined, script)).rejects.toThrow(/still missing after .*noop\.sh/);
  });
});
