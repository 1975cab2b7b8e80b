/** The set of job types a process knows, looked up by name. */
import { DuplicateDefinitionError, InvalidOptionError, UnknownJobError } from '../errors.js';
import type { JobType } from './define-job.js';

export class JobRegistry {
  private readonly types = new Map<string, JobType>();

  constructor(types: Iterable<JobType> = []) {
    if (!Array.isArray(types) && !(types instanceof Set)) throw new InvalidOptionError('jobs', 'a list of job types made by defineJob', types);
    for (const type of types as Iterable<unknown>) {
      if (typeof type !== 'object' || type === null || typeof (type as JobType).name !== 'string' || typeof (type as JobType).queue !== 'string') {
        throw new InvalidOptionError('jobs', 'job types made by defineJob', type);
      }
      this.add(type as JobType);
    }
  }

  add(type: JobType): this {
    if (this.types.has(type.name)) throw new DuplicateDefinitionError(type.name);
    this.types.set(type.name, type);
    return this;
  }

  get(name: string): JobType {
    const type = this.types.get(name);
    if (!type) throw new UnknownJobError(name, this.names());
    return type;
  }

  has(name: string): boolean {
    return this.types.has(name);
  }

  names(): string[] {
    return [...this.types.keys()].sort();
  }

  /** The distinct queues these job types travel on. */
  queues(): string[] {
    return [...new Set([...this.types.values()].map((t) => t.queue))].sort();
  }

  all(): JobType[] {
    return [...this.types.values()];
  }
}
