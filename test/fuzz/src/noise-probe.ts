/**
 * The machine's own scheduling noise, for telling a gateway that blocked its event loop from a
 * gateway that merely waited for a CPU: an idle child process measuring its event-loop delay the
 * same way as the gateway (`monitorEventLoopDelay`, 10 ms resolution). On a busy CI box both see
 * the same late wake-ups; only the gateway sees its own blocking work.
 *
 * The child answers every IPC message with the longest delay (ms) since the previous one. Its code
 * is passed with `-e`, so it runs the same from `dist/` and from the TypeScript sources under jest.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const CHILD = `
const histogram = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 });
histogram.enable();
process.on('message', () => {
  process.send(histogram.max / 1e6);
  histogram.reset();
});
process.on('disconnect', () => process.exit(0));
`;

export class NoiseProbe {
  private constructor(private readonly child: ChildProcess) {
    child.on('error', () => undefined); // a dead probe shows as a read that never resolves
  }

  static async start(): Promise<NoiseProbe> {
    const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const probe = new NoiseProbe(child);
    await probe.read();
    return probe;
  }

  /** Longest event-loop delay of the idle process since the previous read, in ms. */
  read(): Promise<number> {
    return new Promise((resolve) => {
      this.child.once('message', (ms) => resolve(Number(ms)));
      this.child.send('read');
    });
  }

  stop(): void {
    this.child.kill();
  }
}
