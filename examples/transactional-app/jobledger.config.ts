// The job types `jobledger worker` serves (it loads this module from the working directory).
export { jobs } from './src/jobs.js';
