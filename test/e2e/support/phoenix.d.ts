/**
 * The part of the `phoenix` 1.8 JS client (which ships no types) that the e2e tests use.
 * Payloads are whatever the server sent, so they are `unknown` here and narrowed by the tests.
 */
declare module 'phoenix' {
  export interface Push {
    receive(status: 'ok' | 'error' | 'timeout', callback: (response: unknown) => void): Push;
  }

  export interface Channel {
    readonly topic: string;
    on(
      event: string,
      callback: (payload: unknown, ref?: string | null, joinRef?: string | null) => void,
    ): number;
    off(event: string, ref?: number): void;
    join(timeout?: number): Push;
    leave(timeout?: number): Push;
    push(event: string, payload: object, timeout?: number): Push;
  }

  export interface SocketOptions {
    transport?: unknown;
    params?: Record<string, string> | (() => Record<string, string>);
    vsn?: string;
    timeout?: number;
    heartbeatIntervalMs?: number;
    reconnectAfterMs?: (tries: number) => number;
    rejoinAfterMs?: (tries: number) => number;
    logger?: (kind: string, msg: string, data: unknown) => void;
  }

  export class Socket {
    constructor(endPoint: string, opts?: SocketOptions);
    connect(): void;
    disconnect(callback?: () => void, code?: number, reason?: string): void;
    channel(topic: string, params?: object): Channel;
    endPointURL(): string;
    isConnected(): boolean;
    onOpen(callback: () => void): string;
    onError(callback: (error: unknown) => void): string;
  }
}
