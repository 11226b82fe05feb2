/**
 * What Redis holds for each pub/sub subscriber and has not yet written to it: the `omem` (output
 * buffer memory) of `CLIENT LIST TYPE pubsub`. Redis closes a subscriber whose output buffer passes
 * `client-output-buffer-limit pubsub` (by default 32 MB, or 8 MB for 60 s), and everything
 * published to it meanwhile is gone; a publisher that watches these figures can slow down first.
 */
export interface SubscriberBacklog {
  /** Redis's client id (unique per connection). */
  id: string;
  /** CLIENT SETNAME of the connection (walcast names its connections), or '' when unnamed. */
  name: string;
  /** Bytes Redis buffered for this subscriber and has not written yet. */
  outputBytes: number;
}

/** Parses the reply of `CLIENT LIST` (one client per line, `key=value` fields). */
export function parseClientList(text: string): SubscriberBacklog[] {
  const clients: SubscriberBacklog[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = new Map<string, string>();
    for (const pair of line.trim().split(' ')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const id = fields.get('id');
    const omem = Number(fields.get('omem'));
    if (id === undefined || !Number.isFinite(omem)) continue;
    clients.push({ id, name: fields.get('name') ?? '', outputBytes: omem });
  }
  return clients;
}
