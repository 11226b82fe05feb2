/**
 * Fan-in messages (Redis Cluster only): sharded pub/sub has no pattern subscriptions, so each table
 * change is published a second and third time, on its schema's and on the all-tables fan-in
 * channel (topics.ts), for the gateways' schema-wide and `*` subscriptions. A fan-in message is the
 * table topic, a newline, then the change's bus message unchanged (topics are percent-encoded and
 * never hold a newline).
 */

/** The fan-in form of `message`, published on `topic`. */
export function encodeFanIn(topic: string, message: string): string {
  return `${topic}\n${message}`;
}

/** The table topic and the bus message of a fan-in message; null when it is not one. */
export function decodeFanIn(text: string): { topic: string; message: string } | null {
  const newline = text.indexOf('\n');
  if (newline <= 0) return null;
  return { topic: text.slice(0, newline), message: text.slice(newline + 1) };
}
