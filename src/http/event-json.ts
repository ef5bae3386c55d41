import { publicAccessData } from '../events/access-events.js';
import { isStateEvent, lockIdOf, type RecordedEvent } from '../events/events.js';

/**
 * An event as the API shows it: entries of GET /states/NAME/events and GET /events, and the data
 * of each GET /events/stream message. Access events never show a password hash or a token's secret.
 */
export const eventJson = (e: RecordedEvent) => ({
  position: e.position,
  state: e.streamId,
  stream_version: e.streamVersion,
  type: e.event.type,
  recorded_at: e.recordedAt,
  actor: e.metadata.actor,
  remote_address: e.metadata.remote_address,
  user_agent: e.metadata.user_agent,
  request_id: e.metadata.request_id,
  lock_id: lockIdOf(e.event),
  hash: e.hash,
  data: isStateEvent(e.event) ? e.event.data : publicAccessData(e.event),
  ...(e.metadata.claims === undefined ? {} : { claims: e.metadata.claims }),
});
