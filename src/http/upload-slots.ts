import type { Request, RequestHandler } from 'express';
import type { TrafficLimits } from '../config.js';
import { sendError } from './errors.js';

const clientOf = (req: Request): string => req.ip ?? req.socket?.remoteAddress ?? 'unknown';

/**
 * Caps the state uploads in progress, per client address and in all: each holds a temporary file,
 * a connection and buffers, so a flood of slow uploads cannot exhaust descriptors, disk or memory.
 * A refused upload is answered before its body is read, and the connection is closed.
 */
export const uploadSlots = (limits: Pick<TrafficLimits, 'maxUploads' | 'maxUploadsPerClient'>): RequestHandler => {
  const perClient = new Map<string, number>();
  let total = 0;
  return (req, res, next) => {
    const client = clientOf(req);
    const mine = perClient.get(client) ?? 0;
    if (mine >= limits.maxUploadsPerClient) return sendError(res, { type: 'TooManyUploads', limit: limits.maxUploadsPerClient });
    if (total >= limits.maxUploads) {
      return sendError(res, { type: 'ServerBusy', message: `the server is taking ${limits.maxUploads} uploads already; retry shortly` });
    }
    perClient.set(client, mine + 1);
    total++;
    res.once('close', () => {
      total--;
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
    });
    next();
  };
};
