import type { Logger } from 'pino';

/**
 * Lets at most `max` calls per `windowMs` through for each key (a static message, usually), then
 * counts the rest and reports the count with the next line that passes. For warnings that may
 * repeat per change or per frame (bad values, malformed bus messages).
 */
export class LogThrottle {
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(private readonly opts: { max: number; windowMs: number; now?: () => number }) {}

  /** Calls `emit(suppressed)` when this occurrence may be logged; `suppressed` counts those skipped before it. */
  run(key: string, emit: (suppressed: number) => void): void {
    const now = (this.opts.now ?? Date.now)();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.opts.windowMs) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: now, count: 0, suppressed: 0 };
      this.windows.set(key, w);
      w.count++;
      emit(suppressed);
      return;
    }
    if (w.count < this.opts.max) {
      w.count++;
      emit(0);
    } else {
      w.suppressed++;
    }
  }

  /** `log.warn(fields, msg)` throttled by `msg`. */
  warn(log: Logger, fields: Record<string, unknown>, msg: string): void {
    this.run(msg, (suppressed) => log.warn(suppressed > 0 ? { ...fields, suppressed } : fields, msg));
  }

  /** `log.info(fields, msg)` throttled by `msg`: for client faults a client can repeat at will. */
  info(log: Logger, fields: Record<string, unknown>, msg: string): void {
    this.run(msg, (suppressed) => log.info(suppressed > 0 ? { ...fields, suppressed } : fields, msg));
  }
}
