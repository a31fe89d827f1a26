/**
 * Re-runs an assertion until it passes: for effects that arrive asynchronously by design (projections
 * lag the writes, DESIGN.md §5). Waits on the effect itself, never for a fixed time; fails with the
 * assertion's own message when the effect does not come within the timeout.
 */
export async function eventually<T>(assertion: () => Promise<T> | T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, 5 * 2 ** attempt)));
    }
  }
}
