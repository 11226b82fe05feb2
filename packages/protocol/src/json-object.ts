/** Whether `value` is a JSON object (not null, not an array): the shape of every map a client sends. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
