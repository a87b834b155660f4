import type { FastifyReply, FastifyRequest } from 'fastify';

/** Cache-Control for public resources: shared caches may keep them and serve stale while refreshing. */
export function publicCacheControl(maxAgeSeconds: number): string {
  return `public, max-age=${maxAgeSeconds}, stale-while-revalidate=${maxAgeSeconds * 10}`;
}

export const PRIVATE_NO_STORE = 'private, no-store';

/** True when an If-None-Match header names `etag` (or is `*`); weak comparison, as for GET. */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  // What a browser or a cache sends back: the one tag it was given, as it was given.
  if (ifNoneMatch === etag) return true;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

/**
 * Sets a strong ETag and Cache-Control, and answers 304 when the client's copy is current.
 * Returns true when the 304 was sent and the handler should stop.
 */
export function sendNotModifiedIfFresh(request: FastifyRequest, reply: FastifyReply, etag: string, cacheControl: string): boolean {
  reply.header('ETag', etag).header('Cache-Control', cacheControl);
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch && etagMatches(ifNoneMatch, etag)) {
    reply.code(304).send();
    return true;
  }
  return false;
}
