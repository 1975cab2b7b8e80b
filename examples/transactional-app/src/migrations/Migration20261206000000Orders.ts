// The application's own migration, recorded in its own migrations table (mikro_orm_migrations).
// The SQL here is the same on SQLite and PostgreSQL; an application on one database writes its own.
import { Migration } from '@mikro-orm/migrations';

export class Migration20261206000000Orders extends Migration {
  override up(): void {
    this.addSql('create table "orders" ("id" varchar(36) not null primary key, "email" varchar(255) not null, "total_cents" integer not null);');
  }

  override down(): void {
    this.addSql('drop table if exists "orders";');
  }
}
