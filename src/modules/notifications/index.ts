import type { Database } from '../../platform/db/database.ts';
import type { ConsumerOptions } from '../../platform/events/consumer.ts';
import type { Migration } from '../../platform/db/migrations.ts';
import type { NotificationsApi } from './contract.ts';
import type { Mailer } from './mailer.ts';
import { notificationsMigrations } from './notifications.schema.ts';
import { createNotifications, type SettledOrderEvent } from './notifications.service.ts';
import type { Warehouse } from './warehouse.ts';

export interface NotificationsModule {
  name: 'notifications';
  migrations: Migration[];
  api: NotificationsApi;
  /** Durable consumers the composition root starts. */
  consumers: ConsumerOptions<SettledOrderEvent>[];
}

export function createNotificationsModule(deps: { db: Database; mailer: Mailer; warehouse: Warehouse; invoiceHoldMs?: number }): NotificationsModule {
  const { api, consumers } = createNotifications(deps);
  return { name: 'notifications', migrations: notificationsMigrations, api, consumers };
}

export { createMailer } from './mailer.ts';
