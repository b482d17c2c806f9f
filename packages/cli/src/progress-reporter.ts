import { describeWait, SfpClient, WaitStatus, waitSignature } from '@queue-mutex/client';

const PREFIX = 'queue-mutex: ';
/** A plain log repeats an unchanged status this often, so a reader sees the wait is alive. */
const PLAIN_REPEAT_MS = 30_000;

/**
 * Progress on stderr. On a terminal, waiting is one live line, redrawn every second; in a CI
 * log (not a terminal), a plain line when the position or holder changes and every 30 s.
 */
export class ProgressReporter {
  private readonly live: boolean;
  private liveStatus: { status: WaitStatus; at: number } | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private lastPrinted: { signature: string; at: number } | null = null;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly client: Pick<SfpClient, 'serverNow'>,
    private readonly quiet: boolean,
  ) {
    this.live = stream.isTTY === true && !quiet;
  }

  info(message: string): void {
    if (this.quiet) return;
    this.clear();
    this.stream.write(`${PREFIX}${message}\n`);
  }

  /** Errors and warnings show even with --quiet. */
  warn(message: string): void {
    this.clear();
    this.stream.write(`${PREFIX}${message}\n`);
  }

  waiting(status: WaitStatus): void {
    if (this.quiet) return;
    if (this.live) {
      this.liveStatus = { status, at: Date.now() };
      this.draw();
      this.ticker ??= setInterval(() => this.draw(), 1_000);
      return;
    }
    const signature = waitSignature(status);
    const now = Date.now();
    if (this.lastPrinted && this.lastPrinted.signature === signature && now - this.lastPrinted.at < PLAIN_REPEAT_MS) return;
    this.lastPrinted = { signature, at: now };
    this.stream.write(`${PREFIX}${describeWait(status, this.client)}\n`);
  }

  /** Ends the live line, so what comes next starts on a clean line. */
  clear(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (this.liveStatus) this.stream.write('\r\x1b[2K');
    this.liveStatus = null;
  }

  private draw(): void {
    if (!this.liveStatus) return;
    const { status, at } = this.liveStatus;
    const line = PREFIX + describeWait({ ...status, waitedMs: status.waitedMs + Date.now() - at }, this.client);
    const width = (this.stream.columns || 80) - 1;
    this.stream.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
  }
}
