/** True when a fleet process answers `GET /readyz` with 200 (ready: migrated, dependencies up, not draining). */
export async function probeReady(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${port}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** True when anything accepts HTTP on the port (any status): a port `fleet up` must not take. */
export async function portAnswers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return true;
  } catch (error) {
    // A refused connection is the free case; a timeout or a non-HTTP answer means something is there.
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    return code !== 'ECONNREFUSED';
  }
}
