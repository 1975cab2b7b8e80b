// Places an order and enqueues its confirmation in one transaction: both commit, or neither exists.
//   DATABASE_URL=sqlite:./data/app.sqlite REDIS_URL=redis://127.0.0.1:6379 npm run place-order -- ada@example.com 4200
// With --decline, the transaction throws after the enqueue: no order, no job, no event, nothing in Redis.
import { JobLedger } from 'jobledger';
import { openOrm } from './orm.js';
import { Order } from './order.entity.js';
import { jobs } from './jobs.js';

const [email = 'ada@example.com', total = '4200', flag] = process.argv.slice(2);
const databaseUrl = process.env.DATABASE_URL ?? 'sqlite:./data/app.sqlite';

const orm = await openOrm(databaseUrl);
await orm.getMigrator().up(); // the application's migrations, in its own table
// The ledger's migrations, in jobledger_migrations (or run `jobledger migrate` at deploy time).
const jl = await JobLedger.open({ jobs, migrate: true });

try {
  const placed = await jl.transaction(orm.em.fork(), async (tx) => {
    const order = tx.em.create(Order, { email, totalCents: Number(total) });
    await tx.em.flush();
    const job = await tx.enqueue('orders.send-confirmation', { orderId: order.id, to: email });
    if (flag === '--decline') throw new Error('payment declined');
    return { orderId: order.id, jobId: job.id };
  }); // committed: the job is handed to Redis now
  console.log(JSON.stringify(placed));
} catch (error) {
  console.log(JSON.stringify({ declined: (error as Error).message }));
  process.exitCode = 2;
} finally {
  await jl.close();
  await orm.close();
}
