export async function benchLatency(): Promise<never[]> {
  return [];
}
