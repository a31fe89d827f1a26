export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __parleyContainers?: { stop(): Promise<unknown> }[] }).__parleyContainers ?? [];
  await Promise.all(started.map((container) => container.stop()));
}
