/**
 * The `ctx` a handler gets for one attempt.
 *
 * Its child logger, progress reporter and state buffer are made when first used: most attempts of a
 * busy queue need none of them, and each cost allocation on every attempt. Kept out of the processor
 * (execute-attempt.ts) so that the processor reads as the attempt's steps. The ledger and the other
 * working parts are ES private fields, so a handler that logs or spreads `ctx` gets the attempt's
 * identity and nothing else (an object literal with getters, used before, built the logger, the
 * abort signal and the state buffer when serialized). `progress` stays a bound function, so
 * `const { progress } = ctx` works. As for speed: compared with that literal, no difference showed
 * in the SQLite bench's CPU profile.
 */
import type { JobContext } from '../jobs/define-job.js';
import type { Logger } from '../logger.js';
import { defaultMaxJsonBytes, defaultMaxJsonDepth, type AttemptRef, type Ledger, type StartedJob } from '../store/index.js';
import type { AttemptAbort } from './attempt-abort.js';
import { AttemptState } from './attempt-state.js';
import type { TieredStateStore } from '../hot-state/tiered-state-store.js';
import { ProgressReporter } from './progress-reporter.js';

export interface AttemptContextDeps {
  ledger: Ledger;
  logger: Logger;
  progressEventIntervalMs: number;
  /** Deepest accepted progress and state data nesting (Config.maxJsonDepth). Default 64. */
  maxJsonDepth?: number;
  /** Largest accepted progress, as UTF-8 JSON (Config.maxProgressBytes). Default 1 MiB. */
  maxProgressBytes?: number;
  /** The state reads go through (`jl.state`, with its hot tiers). Default: plain SQL state. */
  state?: () => TieredStateStore;
}

export class AttemptContext implements JobContext {
  readonly jobId: string;
  readonly name: string;
  readonly attempt: number;
  readonly runId: string | null;
  // ES private fields: a handler that logs or spreads `ctx` sees its public fields, not the ledger.
  readonly #deps: AttemptContextDeps;
  readonly #job: StartedJob;
  readonly #ref: AttemptRef;
  readonly #stop: AttemptAbort;
  #childLogger: Logger | undefined;
  #reporter: ProgressReporter | undefined;
  #stateBuffer: AttemptState | undefined;
  readonly #onProgressWritten: ((value: unknown) => void) | undefined;

  /** `onProgressWritten`: told of each progress value the ledger wrote (the Bull Board mirror). */
  constructor(deps: AttemptContextDeps, job: StartedJob, ref: AttemptRef, stop: AttemptAbort, onProgressWritten?: (value: unknown) => void) {
    this.#deps = deps;
    this.#onProgressWritten = onProgressWritten;
    this.#job = job;
    this.#ref = ref;
    this.#stop = stop;
    this.jobId = job.id;
    this.name = job.name;
    this.attempt = ref.number;
    this.runId = job.runId;
  }

  get logger(): Logger {
    return (this.#childLogger ??= this.#deps.logger.child({ jobId: this.jobId, job: this.name, attempt: this.attempt }));
  }

  /** The attempt's child logger if something made it already (the outcome's line then goes through it). */
  get madeLogger(): Logger | undefined {
    return this.#childLogger;
  }

  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  readonly progress = (value: number | Record<string, unknown>): Promise<void> =>
    (this.#reporter ??= new ProgressReporter(this.#deps.ledger, this.#ref, this.#deps.progressEventIntervalMs, {
      maxDepth: this.#deps.maxJsonDepth ?? defaultMaxJsonDepth,
      maxBytes: this.#deps.maxProgressBytes ?? defaultMaxJsonBytes,
    }, this.#onProgressWritten)).report(value);

  get state(): JobContext['state'] {
    const limits = { maxJsonDepth: this.#deps.maxJsonDepth ?? defaultMaxJsonDepth };
    return (this.#stateBuffer ??= new AttemptState(this.#deps.ledger, this.#job, limits, this.#deps.state?.())).access;
  }

  /** The state buffer, if the handler used state (its writes join the outcome's transaction). */
  get usedState(): AttemptState | undefined {
    return this.#stateBuffer;
  }

  /** The latest progress not yet written, if any, taken so that the outcome writes it. */
  takeHeldProgress(): unknown {
    return this.#reporter?.takeHeld();
  }
}
