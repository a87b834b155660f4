import { PlatformErrors } from '../errors/domain-error.ts';

/** An opaque page cursor carrying the last row's key; clients pass it back unchanged. */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(JSON.stringify({ k: lastKey })).toString('base64url');
}

/** The key inside a cursor this API issued; anything else is a 400 naming the `cursor` field. */
export function decodeCursor(cursor: string): string {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof decoded === 'object' && decoded !== null && 'k' in decoded && typeof decoded.k === 'string') return decoded.k;
  } catch {
    // fall through to the validation error
  }
  throw PlatformErrors.validation([{ field: 'cursor', message: 'is not a cursor this API issued' }]);
}
