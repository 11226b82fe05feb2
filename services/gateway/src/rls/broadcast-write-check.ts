/**
 * The REST API's question for private messages, put to the policies on realtime.messages: may a
 * caller with these verified claims broadcast to a private topic?
 */
import type { ChannelAuthorizer } from './channel-authorizer';
import { identityOf } from './identity';

/**
 * Whether a caller with these verified claims may broadcast to private `subtopic` (the REST API's
 * question); false without claims or with claims that name no role.
 */
export function broadcastWriteCheck(
  authorizer: Pick<ChannelAuthorizer, 'write'>,
): (claims: Record<string, unknown> | null, subtopic: string) => Promise<boolean> {
  return async (claims, subtopic) => {
    const identity = claims ? identityOf(claims) : null;
    if (!identity || 'error' in identity) return false;
    const access = await authorizer.write(identity, subtopic, ['broadcast']);
    return access.allowed.broadcast === true;
  };
}
