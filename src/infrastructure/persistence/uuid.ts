const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs in storage; any other string names nothing, so lookups answer "not found" without asking. */
export function isUuid(id: string): boolean {
  return UUID_PATTERN.test(id);
}

/** PostgreSQL compares UUIDs case-blind, strings and lock keys do not: one id, one spelling. */
export function canonicalId(id: string): string {
  return isUuid(id) ? id.toLowerCase() : id;
}
