/**
 * The store's names that callers validate input against (job statuses, search fields), from leaf
 * modules that load no ORM: what a CLI command's option parsing needs while `jobledger --help` still
 * loads nothing heavy (test/cli-startup.test.ts). Everything else is reached through index.ts.
 */
export { jobStatuses, type JobStatus } from './lifecycle.js';
export { searchFields, type SearchField } from './search/search-query.js';
