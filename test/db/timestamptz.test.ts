import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../src/db/timestamptz.js';
import { startHarness, type Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';

// postgres-date, pg's own parser (src/db/connection.ts replaces it, but this module is read first).
const regexParse = (await import('pg-types')).default.getTypeParser(1184, 'text') as (text: string) => Date | number | null;

describe('parseTimestamptz', () => {
  it('reads every fraction length and offset form as pg\'s own parser does, to the millisecond', () => {
    const texts = [
      '2026-12-02 08:05:01+00',
      '2026-12-02 08:05:01.1+00',
      '2026-12-02 08:05:01.12+00',
      '2026-12-02 08:05:01.123+00',
      '2026-12-02 08:05:01.999999+00',
      '2026-12-02 08:05:01.000001+00',
      '2026-12-02 23:59:59.5-03',
      '2026-02-28 00:00:00.25+05:30',
      '2024-02-29 12:00:00+14',
      '1999-12-31 23:59:59.999-09:30',
      '1850-01-01 00:00:00+00:19:32',
      '1000-01-01 00:00:00-00:01:15',
      '9999-12-31 23:59:59.999999+00',
    ];
    for (const text of texts) {
      const fast = parseTimestamptz(text);
      expect(fast, text).toBeInstanceOf(Date);
      expect((fast as Date).getTime(), text).toBe((regexParse(text) as Date).getTime());
    }
  });

  it('truncates below the millisecond, as a Date keeps none', () => {
    expect((parseTimestamptz('2026-12-02 08:05:01.123999+00') as Date).toISOString()).toBe('2026-12-02T08:05:01.123Z');
    expect((parseTimestamptz('2026-12-02 08:05:01.4+01:30') as Date).toISOString()).toBe('2026-12-02T06:35:01.400Z');
  });

  it('hands anything else to pg\'s parser, and gives what it gives', () => {
    for (const text of ['infinity', '-infinity', '0044-03-15 12:00:00+00 BC', '0099-01-01 00:00:00+00', '12026-01-01 00:00:00+00', '2026-12-02', '2026-12-02 08:05:01.+00', '2026-12-02 08:05:01+0', '2026-12-02 08:05:01+00:3', '2026-12-02 08:05:01+00:30:00:00', '2026-12-02 08:05:01Z']) {
      const fast = parseTimestamptz(text);
      const slow = regexParse(text);
      expect(fast instanceof Date ? fast.getTime() : fast, text).toEqual(slow instanceof Date ? slow.getTime() : slow);
    }
  });
});

describe('timestamptz read from PostgreSQL', () => {
  let h: Harness;
  useHarness(
    () => startHarness({ worker: false }),
    (started) => {
      h = started;
    },
  );

  it('is the instant PostgreSQL holds, whatever the session\'s time zone (offsets with minutes and seconds too)', async () => {
    const instants = ['2026-12-02 08:05:01.123456+00', '1850-06-01 12:00:00+00', '2026-07-01 00:00:00.5+00', '2000-01-01 00:00:00+00'];
    for (const zone of ['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Europe/Amsterdam', 'Pacific/Chatham']) {
      const rows = await h.services.db.transaction(async (trx) => {
        await trx.raw(`SET LOCAL TIME ZONE '${zone}'`);
        return (await trx.raw(
          `SELECT t::timestamptz AS at, t::timestamptz::text AS text, floor(extract(epoch FROM t::timestamptz) * 1000)::float8 AS ms FROM unnest(?::text[]) AS t`,
          [instants],
        )).rows as { at: Date; text: string; ms: number }[];
      });
      for (const row of rows) {
        expect(row.at, `${zone} ${row.text}`).toBeInstanceOf(Date);
        expect(row.at.getTime(), `${zone} ${row.text}`).toBe(row.ms);
      }
    }
    // The connection pool's parser is this one.
    expect(pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text')).toBe(parseTimestamptz);
  });
});
