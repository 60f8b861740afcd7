import { describe, expect, it } from 'vitest';
import { clampRetryAt, parseDuration, parseWallClock, zonedToEpoch } from '../../../agents/limits.js';
import { NOW } from './transcripts.js';

describe('parseDuration', () => {
  it.each([
    ['34.074824224s', 34_075],
    ['900ms', 900],
    ['1m30s', 90_000],
    ['2 hours', 7_200_000],
    ['3 days 6 hours 57 minutes', ((3 * 24 + 6) * 60 + 57) * 60_000],
    ['5 min', 300_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it('no duration', () => expect(parseDuration('later')).toBeUndefined());
});

describe('parseWallClock', () => {
  it('a time of day in a zone: today, or tomorrow when it is more than an hour past', () => {
    expect(parseWallClock('4pm', NOW, 'UTC')).toBe(Date.UTC(2026, 10, 28, 16));
    expect(parseWallClock('9:30 am', NOW, 'UTC')).toBe(Date.UTC(2026, 10, 28, 9, 30));
    expect(parseWallClock('8:59am', NOW, 'UTC')).toBe(Date.UTC(2026, 10, 29, 8, 59));
    expect(parseWallClock('12am', NOW, 'UTC')).toBe(Date.UTC(2026, 10, 29, 0));
    expect(parseWallClock('12pm', NOW, 'UTC')).toBe(Date.UTC(2026, 10, 28, 12));
    // 10:00 UTC is 05:00 in New York (EST): 4pm there is 21:00 UTC
    expect(parseWallClock('4pm', NOW, 'America/New_York')).toBe(Date.UTC(2026, 10, 28, 21));
  });

  it('dates: with a year as given, without one in the next year when long past', () => {
    expect(parseWallClock('Jun 28th, 2027 6:15 PM', NOW, 'UTC')).toBe(Date.UTC(2027, 5, 28, 18, 15));
    expect(parseWallClock('Oct 9, 5pm', NOW, 'UTC')).toBe(Date.UTC(2027, 9, 9, 17));
    expect(parseWallClock('December 1', NOW, 'UTC')).toBe(Date.UTC(2026, 11, 1));
  });

  it('across a DST change', () => {
    // 2026-03-08 is the US spring-forward day: 4am EDT = 08:00 UTC
    expect(zonedToEpoch(2026, 2, 8, 4, 0, 'America/New_York')).toBe(Date.UTC(2026, 2, 8, 8));
    expect(zonedToEpoch(2026, 2, 7, 4, 0, 'America/New_York')).toBe(Date.UTC(2026, 2, 7, 9));
  });

  it('not a wall clock, an unknown zone falls back to the local one', () => {
    expect(parseWallClock('soon', NOW, 'UTC')).toBeUndefined();
    expect(parseWallClock('25pm', NOW, 'UTC')).toBeUndefined();
    expect(parseWallClock('4pm', NOW, 'Mars/Olympus')).toBe(parseWallClock('4pm', NOW));
  });
});

it('clampRetryAt keeps an instant between a minute and a week from now', () => {
  expect(clampRetryAt(NOW - 1000, NOW)).toBe(NOW + 60_000);
  expect(clampRetryAt(NOW + 3_600_000, NOW)).toBe(NOW + 3_600_000);
  expect(clampRetryAt(NOW + 30 * 86_400_000, NOW)).toBe(NOW + 7 * 86_400_000);
});
