import { Writable } from 'node:stream';
import { formatElapsed, startProgress } from '../../../src/interfaces/cli/progress';

/** A stream that keeps what is written, and says whether it is a terminal. */
function captured(isTTY: boolean): Writable & { isTTY: boolean; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return Object.assign(stream, { isTTY, text: () => chunks.join('') });
}

/**
 * The progress display of long commands (README "Operations"): a bar with rate and ETA on a terminal,
 * plain periodic lines elsewhere. The clock is the test's own, so rates and ETAs are exact.
 */
describe('progress of a long command', () => {
  let now = 0;
  const clock = () => now;

  beforeEach(() => {
    now = 1_000_000;
    jest.useFakeTimers();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('prints a line per interval with the count, the percentage, the rate and the time left, and no control characters', () => {
    const stream = captured(false);
    const progress = startProgress({ label: 'outbox replay', unit: 'rows', stream, intervalMs: 5000, now: clock });
    progress.report(0, 1000);
    now += 5000;
    progress.report(250, 1000);
    jest.advanceTimersByTime(5000);
    now += 5000;
    progress.report(500);
    jest.advanceTimersByTime(5000);
    progress.finish();
    now += 1;
    jest.advanceTimersByTime(20_000);
    expect(stream.text().split('\n')).toEqual([
      'outbox replay: 250/1000 (25%) rows, 50/s, ETA 15s',
      'outbox replay: 500/1000 (50%) rows, 50/s, ETA 10s',
      'outbox replay: finished 500 rows in 10s (50/s)',
      '',
    ]);
    expect(stream.text()).not.toMatch(/[\u001b\r]/);
  });

  it('says nothing for a run shorter than one interval: its answer says it all', () => {
    const stream = captured(false);
    const progress = startProgress({ label: 'migrate', unit: 'migrations', stream, intervalMs: 5000, now: clock });
    progress.report(3, 3);
    progress.finish();
    jest.advanceTimersByTime(60_000);
    expect(stream.text()).toBe('');
  });

  it('prints counts without a total or an ETA until the total is known', () => {
    const stream = captured(false);
    const progress = startProgress({ label: 'outbox prune', stream, intervalMs: 1000, now: clock });
    now += 2000;
    progress.update(40);
    jest.advanceTimersByTime(1000);
    progress.finish();
    expect(stream.text().split('\n')[0]).toBe('outbox prune: 40, 20/s, ETA unknown');
  });

  it('draws a bar with the percentage, the counts, the rate and the ETA on a terminal', () => {
    const stream = captured(true);
    const progress = startProgress({ label: 'projections rebuild read-models', unit: 'events', stream, now: clock });
    progress.report(0, 4000);
    now += 2000;
    progress.report(1000, 4000);
    progress.finish();
    const shown = stream.text();
    expect(shown).toContain('\u001b[');
    expect(shown).toContain('projections rebuild read-models [');
    expect(shown).toMatch(/█{7,8}░{22,23}\] 25% \| 1000\/4000 events \| 500\/s \| ETA 6s/);
  });

  it('writes nothing on a terminal when nothing was reported', () => {
    const stream = captured(true);
    startProgress({ label: 'migrate', stream, now: clock }).finish();
    expect(stream.text()).toBe('');
  });

  it('formats durations for people', () => {
    expect([null, 0, 42_000, 184_000, 7_500_000].map(formatElapsed)).toEqual(['unknown', '0s', '42s', '3m 04s', '2h 05m']);
  });

  it('leaves Ctrl-C and SIGTERM to stop the command while a bar is drawn: it adds no signal handler', () => {
    const signals = () => ['SIGINT', 'SIGTERM'].map((signal) => process.listenerCount(signal));
    const before = signals();
    const progress = startProgress({ label: 'projections rebuild', unit: 'events', stream: captured(true), now: clock });
    progress.report(10, 100);
    expect(signals()).toEqual(before);
    progress.finish();
  });
});
