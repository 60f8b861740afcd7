/**
 * When an agent may be used again: delays and reset times read from the texts CLIs print when they hit a
 * rate limit or a quota ("Please retry in 34.07s", "resets 4pm (UTC)", "try again at Jun 28th, 2026 6:15
 * PM", "try again in 3 days 6 hours"). Pure functions of the text, `now` and a time zone (a CLI prints
 * wall-clock times in the zone of the machine it runs on: this one, unless it names another).
 *
 * Every instant is clamped to [now + 1 minute, now + 7 days]: a reset in the past or absurdly far away is
 * a parsing accident, and the pool must neither spin nor freeze an agent for months. With no time at
 * all, the defaults apply: 1 minute for a rate limit, 5 hours for an exhausted quota.
 */

export const DEFAULT_RATE_LIMIT_DELAY_MS = 60_000;
export const DEFAULT_QUOTA_DELAY_MS = 5 * 60 * 60 * 1000;
export const MIN_DELAY_MS = 60_000;
export const MAX_DELAY_MS = 7 * 24 * 60 * 60 * 1000;

export function clampRetryAt(at: number, now: number): number {
  return Math.min(Math.max(at, now + MIN_DELAY_MS), now + MAX_DELAY_MS);
}

/** The zone this process runs in (what a CLI on this machine prints times in). */
export function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * A duration such as "34.074824224s", "900ms", "1m30s", "2 hours", "3 days 6 hours 57 minutes";
 * undefined when `text` holds none.
 */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)\s*(milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)(?![a-z])/gi;
  let total = 0;
  let found = false;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * unitMs((m[2] ?? '').toLowerCase());
    found = true;
  }
  return found ? Math.round(total) : undefined;
}

function unitMs(unit: string): number {
  if (unit === 'ms' || unit.startsWith('milli')) return 1;
  if (unit.startsWith('s')) return 1_000;
  if (unit.startsWith('m')) return 60_000;
  if (unit.startsWith('h')) return 3_600_000;
  return 86_400_000;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * A wall-clock expression ("4pm", "12:50pm", "3:28 PM", "Oct 12, 4am", "Jun 28th, 2026 6:15 PM", "Aug 18")
 * as the next matching instant in `zone`: a time already more than an hour past means tomorrow, a date
 * without a year more than a day past means next year. Undefined when `expr` is not such an expression.
 */
export function parseWallClock(expr: string, now: number, zone: string = localZone()): number | undefined {
  const m =
    /^\s*(?:([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?(?:\s+(\d{4}))?,?\s*)?(?:(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?))?\s*$/i.exec(
      expr,
    );
  if (!m) return undefined;
  const [, monthName, dayText, yearText, hourText, minuteText, ampm] = m;
  if (monthName === undefined && hourText === undefined) return undefined;
  const tz = validZone(zone);

  let hour = 0;
  let minute = 0;
  if (hourText !== undefined) {
    const clock = Number(hourText);
    minute = Number(minuteText ?? 0);
    if (clock < 1 || clock > 12 || minute > 59) return undefined;
    hour = (clock % 12) + (/^p/i.test(ampm ?? '') ? 12 : 0);
  }

  const today = wallParts(now, tz);
  if (monthName === undefined) {
    let at = zonedToEpoch(today.year, today.month, today.day, hour, minute, tz);
    if (at < now - 3_600_000) at = zonedToEpoch(today.year, today.month, today.day + 1, hour, minute, tz);
    return at;
  }

  const month = MONTHS.indexOf(monthName.slice(0, 3).toLowerCase());
  if (month < 0) return undefined;
  const day = Number(dayText);
  if (yearText !== undefined) return zonedToEpoch(Number(yearText), month, day, hour, minute, tz);
  let at = zonedToEpoch(today.year, month, day, hour, minute, tz);
  if (at < now - 86_400_000) at = zonedToEpoch(today.year + 1, month, day, hour, minute, tz);
  return at;
}

/** Epoch ms of a wall-clock time in `zone` (month 0-11; day may overflow into the next month). */
export function zonedToEpoch(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  zone: string,
): number {
  const guess = Date.UTC(year, month, day, hour, minute);
  const first = guess - zoneOffset(guess, zone);
  // A second pass lands on the right side of a DST change.
  return guess - zoneOffset(first, zone);
}

function zoneOffset(epochMs: number, zone: string): number {
  const p = wallParts(epochMs, zone);
  return Date.UTC(p.year, p.month, p.day, p.hour, p.minute, p.second) - Math.floor(epochMs / 1000) * 1000;
}

function wallParts(
  epochMs: number,
  zone: string,
): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(epochMs));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return {
    year: get('year'),
    month: get('month') - 1,
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
  };
}

function validZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    return localZone();
  }
}
