import http from 'node:http';
import https from 'node:https';
import * as Minio from 'minio';
import type { S3Config } from '../../config.js';
import { DependencyFailure } from '../failures.js';
import { BODY_PREFIX, type BlobStore, type StoredObject } from './blob-store.js';
import { abortStaleUploads, PART_SIZE, startUpload } from './s3-upload.js';
import { s3Checkpoints } from './s3-checkpoints.js';

const isMissing = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'NoSuchKey' || code === 'NotFound';
};

const unavailable = (what: string, cause: unknown): DependencyFailure =>
  new DependencyFailure({ dependency: 'object store', problem: 'unavailable' }, `the object store failed to ${what}: ${(cause as Error)?.message ?? String(cause)}`, { cause });

/**
 * http(s).request with an inactivity timeout on every object-store request, including the
 * streaming of a body either way: a stalled server fails the request instead of hanging it (and
 * the Terraform lock with it). minio accepts any object with a `request` method as its transport.
 */
const transportWithTimeout = (useSSL: boolean, timeoutMs: number) => {
  const base = useSSL ? https : http;
  return {
    request: ((options: http.RequestOptions, callback?: (response: http.IncomingMessage) => void): http.ClientRequest => {
      const request = base.request(options, callback);
      request.setTimeout(timeoutMs, () =>
        request.destroy(Object.assign(new Error(`no answer from the object store for ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      );
      return request;
    }) as typeof http.request,
  };
};

/** Runs one store call, turning every failure except "no such key" into a dependency failure. */
const guarded = async <A>(what: string, call: () => Promise<A>): Promise<A> => {
  try {
    return await call();
  } catch (error) {
    throw isMissing(error) ? error : unavailable(what, error);
  }
};

/** Blobs in MinIO or any S3 API, through the minio client. Creates the bucket if it is missing. */
export const s3BlobStore = async (settings: S3Config): Promise<BlobStore> => {
  const { bucket, region } = settings;
  const client = new Minio.Client({
    endPoint: settings.endPoint,
    ...(settings.port === undefined ? {} : { port: settings.port }),
    useSSL: settings.useSSL,
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    region,
    pathStyle: true,
    // For minio's own putObject of a stream, which buffers a part (bodies go up through s3-upload.ts instead).
    partSize: PART_SIZE,
    transport: transportWithTimeout(settings.useSSL, settings.timeoutMs),
  });
  const bucketExists = () => guarded('answer', () => client.bucketExists(bucket));
  if (!(await bucketExists())) {
    await client.makeBucket(bucket, region).catch(async (error: unknown) => {
      // Another server process may have created it between our check and our create.
      if (!(await bucketExists())) throw unavailable(`create bucket ${bucket}`, error);
    });
  }

  // Best effort: a bucket lifecycle rule is the lasting answer, and start-up must not depend on this listing.
  await abortStaleUploads(client, bucket, BODY_PREFIX).catch(() => 0);

  const exists = async (key: string): Promise<boolean> =>
    guarded('look up a body', () => client.statObject(bucket, key)).then(
      () => true,
      (error: unknown) => (isMissing(error) ? false : Promise.reject(error)),
    );

  return {
    exists,
    // Content-addressed: writing a key that exists rewrites the same bytes, so no round trip to check first.
    upload: (key, source) => {
      const pending = startUpload(client, bucket, key, source);
      return { commit: () => guarded('store a body', pending.commit), abandon: pending.abandon };
    },
    get: async (key) =>
      guarded('read a body', () => client.getObject(bucket, key)).catch((error: unknown) => (isMissing(error) ? null : Promise.reject(error))),
    ping: async () => {
      if (!(await bucketExists())) throw new Error(`bucket ${bucket} does not exist`);
    },
    ...s3Checkpoints(client, bucket),
    // minio's listing stream asks S3 for the next page (up to 1,000 keys) only as it is read.
    list: async function* (prefix: string): AsyncIterable<StoredObject> {
      try {
        for await (const item of client.listObjectsV2(bucket, prefix, true) as AsyncIterable<Minio.BucketItem>) {
          if (item.name === undefined) continue;
          yield { key: item.name, size: item.size, lastModified: item.lastModified ?? new Date(0) };
        }
      } catch (error) {
        throw unavailable('list the bodies', error);
      }
    },
    delete: (key) => guarded('delete a body', () => client.removeObject(bucket, key)),
  };
};
