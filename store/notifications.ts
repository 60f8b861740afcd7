/**
 * The `notifications` table: one row per event and receiver. The activity claims an attempt before it
 * sends and marks the row sent after, so a sent notice is never sent again (a retried activity, a
 * replayed workflow, the same event twice). A crash between the receiver's answer and the mark can
 * still send once more: delivery is at least once, and duplicates need that narrow window.
 */
import type { NotificationRecord, NotificationTarget } from '../workflows/types.js';
import type { Db } from './db.js';
import { toNotificationRecord, type NotificationRow } from './rows.js';

export interface NotificationRef {
  key: string;
  target: NotificationTarget;
}

/**
 * Count one more attempt and mark it `sending`; undefined when the notice was sent already (nothing
 * to do).
 */
export async function beginNotificationAttempt(
  db: Db,
  ref: NotificationRef & { kind: string },
): Promise<NotificationRecord | undefined> {
  const { rows } = await db.query<NotificationRow>(
    `insert into notifications (key, target, kind, status, attempts)
     values ($1::text, $2::text, $3::text, 'sending', 1)
     on conflict (key, target) do update set
       status = 'sending', attempts = notifications.attempts + 1, updated_at = now()
     where notifications.status <> 'sent'
     returning *`,
    [ref.key, ref.target, ref.kind],
  );
  return rows[0] ? toNotificationRecord(rows[0]) : undefined;
}

export async function markNotificationSent(db: Db, ref: NotificationRef): Promise<void> {
  await db.query(
    `update notifications set status = 'sent', last_error = null, sent_at = now(), updated_at = now()
     where key = $1::text and target = $2::text`,
    [ref.key, ref.target],
  );
}

/** Record a failed attempt: `failed` is retried, `rejected` (the receiver refused it) is not. */
export async function markNotificationFailed(
  db: Db,
  ref: NotificationRef & { status: 'failed' | 'rejected'; error: string },
): Promise<void> {
  await db.query(
    `update notifications set status = $3::text, last_error = $4::text, updated_at = now()
     where key = $1::text and target = $2::text and status <> 'sent'`,
    [ref.key, ref.target, ref.status, ref.error],
  );
}

/** The records of events whose key starts with `keyPrefix` (all when absent), oldest first. */
export async function listNotifications(db: Db, filter: { keyPrefix?: string } = {}): Promise<NotificationRecord[]> {
  const { rows } = await db.query<NotificationRow>(
    `select * from notifications where $1::text is null or starts_with(key, $1::text)
     order by created_at, key, target`,
    [filter.keyPrefix ?? null],
  );
  return rows.map(toNotificationRecord);
}
