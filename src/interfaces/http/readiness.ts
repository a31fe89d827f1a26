/** A named dependency that must answer before this instance takes traffic (DESIGN.md §6). */
export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean>;
}

export abstract class Readiness {
  abstract checks(): ReadinessCheck[];
}

export async function evaluateReadiness(checks: ReadinessCheck[]): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
  const results = await Promise.all(
    checks.map(async ({ name, check }) => [name, await check().catch(() => false)] as const),
  );
  return { ready: results.every(([, ok]) => ok), checks: Object.fromEntries(results) };
}
