import { createReadStream } from 'node:fs';
import * as Minio from 'minio';
import type { S3Config } from '../../config.js';
import type { BlobStore } from './blob-store.js';


const isMissing = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'NoSuchKey' || code === 'NotFound';
};

const PART_SIZE = 8 * 1024 * 1024;

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
    // minio buffers one part in memory per upload: small parts keep a 500 MB push from costing 64 MB+ of RAM.
    partSize: PART_SIZE,
  });
  if (!(await client.bucketExists(bucket))) {
    await client.makeBucket(bucket, region).catch(async (error: unknown) => {
      // Another server process may have created it between our check and our create.
      if (!(await client.bucketExists(bucket))) throw error;
    });
  }

  const exists = async (key: string): Promise<boolean> =>
    client.statObject(bucket, key).then(
      () => true,
      (error: unknown) => (isMissing(error) ? false : Promise.reject(error)),
    );

  return {
    exists,
    // Content-addressed: writing a key that exists rewrites the same bytes, so no round trip to check first.
    put: async (key, filePath, size) => {
      await client.putObject(bucket, key, createReadStream(filePath, { highWaterMark: 1 << 20 }), size, {
        'Content-Type': 'application/json',
      });
    },
    get: async (key) => client.getObject(bucket, key).catch((error: unknown) => (isMissing(error) ? null : Promise.reject(error))),
    ping: async () => {
      if (!(await client.bucketExists(bucket))) throw new Error(`bucket ${bucket} does not exist`);
    },
  };
};
