/**
 * Cancelling a running job is recorded in the ledger first; then this Redis pub/sub channel tells
 * whichever worker runs it to abort the handler. A worker that misses the message still cannot
 * overwrite the cancel: its outcome write is fenced on the job being `running`.
 */
export function cancelChannel(prefix: string): string {
  return `${prefix}:jobledger:cancel`;
}
