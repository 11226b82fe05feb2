/**
 * The one module that imports uWebSockets.js. The npm republish we depend on silently falls back to a
 * partial JavaScript implementation when its native binary fails to load; walcast refuses to run on
 * that fallback (it lacks most of the API and all of the performance).
 */
import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
export { uWS };

/** Listens `app` on host:port; rejects when the address cannot be bound (in use, not local…). */
export function listenApp(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`cannot listen on ${host}:${port}`));
    });
  });
}

/** Node.js major versions the uWebSockets.js build walcast uses ships binaries for. */
export const SUPPORTED_NODE_MAJORS: readonly number[] = [16, 18, 20];

export class NativeUwsMissingError extends Error {
  constructor(nodeVersion = process.versions.node) {
    const major = Number(nodeVersion.split('.')[0]);
    super(
      SUPPORTED_NODE_MAJORS.includes(major)
        ? 'uWebSockets.js did not load its native binary (the JavaScript fallback is not supported). ' +
            'It needs Node.js 16, 18 or 20 on linux-x64/arm64 with glibc >= 2.27; check the install and that UWS_USE_FALLBACK is unset.'
        : `Node.js ${nodeVersion} is not supported: the gateway runs on Node.js 16, 18 or 20, the versions ` +
            'the uWebSockets.js build it uses has native binaries for (builds for Node.js 22 and later need glibc >= 2.38).',
    );
    this.name = 'NativeUwsMissingError';
  }
}

/** Throws {@link NativeUwsMissingError} on another Node.js major, or unless `uWS.App` is native code. */
export function assertNativeUws(nodeVersion = process.versions.node): void {
  const major = Number(nodeVersion.split('.')[0]);
  if (!SUPPORTED_NODE_MAJORS.includes(major) || !/\[native code\]/.test(String(uWS.App)))
    throw new NativeUwsMissingError(nodeVersion);
}

/**
 * `closeOnBackpressureLimit` is typed `number` in this package and `boolean` in the official one;
 * this value satisfies both at runtime (uWS reads it as a truthy flag).
 */
export const CLOSE_ON_BACKPRESSURE_LIMIT = 1 as unknown as number & boolean;

/** uWS `ws.send` results. */
export const SendStatus = { backpressure: 0, success: 1, dropped: 2 } as const;
