/**
 * The messages between the worker's main thread and a thread that runs thread handlers
 * (thread-handlers.ts on the main side, thread-entry.ts in the thread), and how a thrown value
 * crosses: as its name, message, stack and code, so that the main thread classifies it as it would
 * have classified the same throw on its own loop (`PermanentJobError` by its name, for instance).
 */

/** What the thread is started with. */
export interface ThreadData {
  /** The handler module, as a `file:` URL. */
  moduleUrl: string;
  /** thread-entry's own URL (.js when built, .ts when run from the sources through tsx). */
  entryUrl: string;
  /** tsx's register module, when the entry or the handler module is TypeScript. */
  tsxUrl: string | null;
}

/** The parts of JobContext that are plain data. */
export interface ThreadAttemptInfo {
  jobId: string;
  name: string;
  attempt: number;
  runId: string | null;
}

export type ThreadLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Calls the thread makes and waits on; answered by a `reply`. */
export type ThreadCallMethod = 'progress' | 'state.get' | 'state.find';
/** Buffered state writes: applied on the main thread as they arrive, in order. */
export type ThreadWriteMethod = 'set' | 'updateStatus' | 'delete';

export type ToThread =
  | { type: 'run'; payload: unknown; info: ThreadAttemptInfo }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: ThrownValue };

export type FromThread =
  | { type: 'result'; value: unknown }
  | { type: 'error'; error: ThrownValue }
  | { type: 'log'; level: ThreadLogLevel; bindings: Record<string, unknown>; args: unknown[] }
  | { type: 'call'; id: number; method: ThreadCallMethod; args: unknown[] }
  | { type: 'write'; method: ThreadWriteMethod; args: unknown[] };

/** A thrown value in transit: an Error's parts, or the value itself when it was not an Error. */
export type ThrownValue =
  | { kind: 'error'; name: string; message: string; stack?: string; code?: string }
  | { kind: 'value'; value: unknown };

export function encodeThrown(thrown: unknown): ThrownValue {
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    return {
      kind: 'error',
      name: thrown.name,
      message: thrown.message,
      ...(thrown.stack ? { stack: thrown.stack } : {}),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  try {
    return { kind: 'value', value: structuredClone(thrown) };
  } catch {
    return { kind: 'value', value: String(thrown) };
  }
}

export function decodeThrown(value: ThrownValue): unknown {
  if (value.kind === 'value') return value.value;
  const error = new Error(value.message);
  error.name = value.name;
  if (value.stack) error.stack = value.stack;
  if (value.code) (error as Error & { code?: string }).code = value.code;
  return error;
}
