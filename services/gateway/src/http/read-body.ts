/**
 * Reading a request body on uWS within a byte bound. uWS hands the body over in chunks through
 * `res.onData` (the chunk's memory is reused after the callback, so it is copied); a body over the
 * bound is refused as soon as its declared length or its received bytes say so, and what arrives
 * after that is ignored, so a hostile client costs at most `maxBytes` of memory per request.
 *
 * Must be called synchronously in the route handler (uWS drops data not claimed there), after
 * `res.onAborted` has been registered by the caller.
 */
import type { HttpResponse } from '../uws';

/** The body, or why there is none: over the bound, or the client went away. */
export type BodyResult = { body: Buffer } | { refused: 'too_large' };

/**
 * Collects the body of `res` up to `maxBytes`. `declaredLength` is the Content-Length header ('' when
 * absent). Resolves once the last chunk is in, or at once when the bound is passed. Never rejects; if
 * the request is aborted it simply never resolves (the caller's onAborted handles that).
 */
export function readBody(res: HttpResponse, declaredLength: string, maxBytes: number): Promise<BodyResult> {
  if (declaredLength !== '' && Number(declaredLength) > maxBytes) {
    return Promise.resolve({ refused: 'too_large' });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let isDone = false;
    res.onData((chunk, isLast) => {
      if (isDone) return;
      received += chunk.byteLength;
      if (received > maxBytes) {
        isDone = true;
        chunks.length = 0;
        resolve({ refused: 'too_large' });
        return;
      }
      chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
      if (isLast) {
        isDone = true;
        resolve({ body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received) });
      }
    });
  });
}
