/**
 * A measured time worth a person's eye (how long a fail-over or a recovery took), printed only when
 * TEST_LOG_LEVEL asks for output: the assertions hold the bounds, these lines show the margin.
 */
export function reportTiming(line: string): void {
  const level = process.env.TEST_LOG_LEVEL;
  if (level && level !== 'silent') process.stdout.write(`${line}\n`);
}
