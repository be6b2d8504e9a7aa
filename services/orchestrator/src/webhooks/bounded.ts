/**
 * Runs `work` over every item, at most `limit` at a time, and waits for all of them whatever
 * happens: resolves with the errors thrown, in item order (empty when all succeeded).
 */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<unknown[]> {
  const errors: { index: number; error: unknown }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        await work(items[index] as T);
      } catch (error) {
        errors.push({ index, error });
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  await Promise.all(workers);
  return errors.sort((a, b) => a.index - b.index).map((e) => e.error);
}
