/** A one-line progress bar on a terminal's stderr; silent when stderr is not a terminal. */
export class ProgressBar {
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = Boolean(out.isTTY);
  }

  update(done: number, label: string): void {
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((Math.min(done, this.total) / Math.max(1, this.total)) * width);
    this.out.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${this.total} ${label}   `);
  }

  finish(): void {
    if (this.enabled) this.out.write('\n');
  }
}
