import { Migration } from '@mikro-orm/migrations';

/**
 * The producer's trace context, stored with its job: the W3C `traceparent` (and `tracestate`) of
 * the span active at enqueue, as JSON text, so that every attempt's span, in whichever process and
 * after whichever retry, continues the producer's trace. Null when no tracing SDK was registered.
 */
export class Migration20261207000000JobTraceContext extends Migration {
  override up(): void {
    this.addSql('alter table "jobs" add column "trace_context" text null;');
  }

  override down(): void {
    this.addSql('alter table "jobs" drop column "trace_context";');
  }
}
