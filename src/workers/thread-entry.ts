/**
 * The code of a handler thread (see thread-handlers.ts): it loads the job type's handler module
 * once, then runs one attempt at a time as the main thread asks, with a `ThreadJobContext` whose
 * logger, progress and state are messages to the main thread (thread-protocol.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ThreadJobContext, ThreadJobHandler, ThreadLogger } from '../jobs/define-job.js';
import type { JobStateAccess } from '../jobs/job-state.js';
import {
  decodeThrown,
  encodeThrown,
  type FromThread,
  type ThreadAttemptInfo,
  type ThreadCallMethod,
  type ThreadData,
  type ThreadLogLevel,
  type ToThread,
} from './thread-protocol.js';

if (!parentPort) throw new Error('thread-entry runs in a worker thread only');
const port = parentPort;
const { moduleUrl } = workerData as ThreadData;

const handler: Promise<ThreadJobHandler<unknown, unknown>> = import(moduleUrl).then((module: Record<string, unknown>) => {
  const exported = typeof module.default === 'function' ? module.default : module.handler;
  if (typeof exported !== 'function') {
    const error = new Error(`expected ${moduleUrl} to export the handler function as its default export or as "handler"; it exports ${Object.keys(module).join(', ') || 'nothing'}`);
    error.name = 'ThreadHandlerError';
    throw error;
  }
  return exported as ThreadJobHandler<unknown, unknown>;
});
// Reported with the first attempt that needs it, not as an unhandled rejection that ends the thread.
handler.catch(() => undefined);

const calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
let nextCallId = 1;

function post(message: FromThread): void {
  port.postMessage(message);
}

function call(method: ThreadCallMethod, args: unknown[]): Promise<unknown> {
  const id = nextCallId++;
  return new Promise((resolve, reject) => {
    calls.set(id, { resolve, reject });
    post({ type: 'call', id, method, args });
  });
}

function logger(bindings: Record<string, unknown>): ThreadLogger {
  const at =
    (level: ThreadLogLevel) =>
    (...args: unknown[]): void => {
      try {
        post({ type: 'log', level, bindings, args });
      } catch {
        // Something in the line cannot be cloned (a function, a socket): send it as text instead.
        post({ type: 'log', level, bindings, args: args.map((a) => (typeof a === 'string' ? a : String(a))) });
      }
    };
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (more) => logger({ ...bindings, ...more }),
  };
}

const state: JobStateAccess = {
  get: (...args) => call('state.get', args) as ReturnType<JobStateAccess['get']>,
  find: (...args) => call('state.find', args) as ReturnType<JobStateAccess['find']>,
  set: (...args) => post({ type: 'write', method: 'set', args }),
  updateStatus: (...args) => post({ type: 'write', method: 'updateStatus', args }),
  delete: (...args) => post({ type: 'write', method: 'delete', args }),
};

async function run(payload: unknown, info: ThreadAttemptInfo): Promise<void> {
  const ctx: ThreadJobContext = {
    ...info,
    logger: logger({}),
    progress: async (value) => void (await call('progress', [value])),
    state,
  };
  let value: unknown;
  try {
    value = await (await handler)(payload, ctx);
  } catch (error) {
    post({ type: 'error', error: encodeThrown(error) });
    return;
  }
  try {
    post({ type: 'result', value });
  } catch (error) {
    // Not cloneable (a function, a class instance with private state): the attempt fails, saying so.
    post({ type: 'error', error: encodeThrown(new Error(`the handler's result cannot leave its thread: ${(error as Error).message}`)) });
  }
}

port.on('message', (message: ToThread) => {
  if (message.type === 'run') {
    void run(message.payload, message.info);
    return;
  }
  const pending = calls.get(message.id);
  calls.delete(message.id);
  if (message.ok) pending?.resolve(message.value);
  else pending?.reject(decodeThrown(message.error));
});
