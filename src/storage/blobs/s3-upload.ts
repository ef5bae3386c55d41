import fs, { type FileHandle } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type * as Minio from 'minio';
import type { BlobSource, PendingUpload } from './blob-store.js';

/** Bodies up to this size go up in one PUT; larger ones in parts of at least this size. */
export const PART_SIZE = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Parts on the wire at once: one is read and signed while another uploads. Each holds a part in memory. */
const PARTS_IN_FLIGHT = 2;
const METADATA = { 'Content-Type': 'application/json' };

/** Multipart uploads under this prefix that began longer ago than this were left by a stopped process. */
export const STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;

interface Target {
  readonly client: Minio.Client;
  readonly bucket: string;
  readonly key: string;
}

const partSizeFor = (size: number): number => Math.max(PART_SIZE, Math.ceil(size / MAX_PARTS / 2 ** 20) * 2 ** 20);

const readFully = async (handle: FileHandle, into: Buffer, position: number): Promise<void> => {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`the body file ended ${into.length - done} bytes early`);
    done += bytesRead;
  }
};

const bytesOf = async (source: BlobSource): Promise<Buffer> => (source.kind === 'memory' ? source.bytes : fs.readFile(source.path));

/**
 * A body of one part: it can only be sent whole, so it is sent when committed, never before. Not
 * with putObject, which hashes the body twice more (MD5, even where it sends none, and SHA-256 to
 * sign it over plain HTTP): the signed SHA-256 is the content address we have, which S3 checks.
 */
const singlePut = ({ client, bucket, key }: Target, source: BlobSource): PendingUpload => ({
  commit: async () => {
    const bytes = await bytesOf(source);
    const request = { method: 'PUT', bucketName: bucket, objectName: key, headers: { ...METADATA, 'Content-Length': String(bytes.length) } };
    // minio signs an unhashed payload over HTTPS, and then wants no hash.
    const response = await client.makeRequestStreamAsync(request, bytes, client.enableSHA256 ? source.sha256 : '', [200], '');
    await finished(response.resume());
  },
  abandon: async () => undefined,
});

/**
 * Uploads a file's parts, PARTS_IN_FLIGHT at a time, each from a buffer of its own reused part
 * after part (a 500 MB body costs two part buffers). Stops early once `stopped` says so or a part
 * fails; answers the parts' ETags in order.
 */
const uploadParts = async ({ client, bucket, key }: Target, uploadId: string, path: string, size: number, stopped: () => boolean) => {
  const partSize = partSizeFor(size);
  const count = Math.ceil(size / partSize);
  const etags: Array<{ part: number; etag: string }> = [];
  let next = 1;
  let failed = false;
  const handle = await fs.open(path, 'r');
  const worker = async () => {
    const buffer = Buffer.allocUnsafe(Math.min(partSize, size));
    while (next <= count && !failed && !stopped()) {
      const part = next++;
      const offset = (part - 1) * partSize;
      const chunk = buffer.subarray(0, Math.min(partSize, size - offset));
      await readFully(handle, chunk, offset);
      // minio signs the payload (SHA-256 over plain HTTP) and sends no Content-MD5: no MD5 of parts.
      const { etag } = await client.uploadPart({ bucketName: bucket, objectName: key, uploadID: uploadId, partNumber: part, headers: {} }, chunk);
      etags.push({ part, etag });
    }
  };
  try {
    const outcomes = await Promise.allSettled(
      Array.from({ length: Math.min(PARTS_IN_FLIGHT, count) }, () =>
        worker().catch((error: unknown) => {
          failed = true;
          throw error;
        }),
      ),
    );
    const failure = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  } finally {
    await handle.close();
  }
  return etags.sort((a, b) => a.part - b.part);
};

/**
 * A multipart upload straight to the content key: parts go up as soon as upload() is called, but
 * S3 shows no object until the upload is completed, which commit() does. Abandoning aborts it and
 * S3 drops its parts. One left by a crash shows no object either; abortStaleUploads removes it.
 */
const multipart = (target: Target, path: string, size: number): PendingUpload => {
  const { client, bucket, key } = target;
  let stopped = false;
  const uploadId = client.initiateNewMultipartUpload(bucket, key, METADATA);
  const parts = uploadId.then((id) => uploadParts(target, id, path, size, () => stopped)).then((etags) => {
    if (stopped) throw new Error('the upload was abandoned'); // never complete a partial set of parts
    return etags;
  });
  // Observed by commit or abandon, whichever comes; until then a failure must not count as unhandled.
  parts.catch(() => undefined);
  const abort = async () => {
    stopped = true;
    await parts.catch(() => undefined); // let the parts in flight end before dropping the upload
    const id = await uploadId.catch(() => undefined);
    // Best effort: if S3 cannot be reached now, the upload stays incomplete (no object) until swept.
    if (id !== undefined) await client.abortMultipartUpload(bucket, key, id).catch(() => undefined);
  };
  return {
    commit: async () => {
      try {
        await client.completeMultipartUpload(bucket, key, await uploadId, await parts);
      } catch (error) {
        await abort();
        throw error;
      }
    },
    abandon: abort,
  };
};

/** Starts storing a body under key on S3: see BlobStore.upload. */
export const startUpload = (client: Minio.Client, bucket: string, key: string, source: BlobSource): PendingUpload => {
  const target = { client, bucket, key };
  return source.kind === 'file' && source.size > PART_SIZE ? multipart(target, source.path, source.size) : singlePut(target, source);
};

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

const xmlField = (xml: string, name: string): string =>
  (new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1] ?? '').replace(/&(amp|lt|gt|quot|apos);/g, (_, entity: string) => XML_ENTITIES[entity] ?? '');

/**
 * The multipart uploads under prefix (the first 1,000). Not minio's listIncompleteUploads: it always
 * sends `delimiter=`, which Swift's s3api takes as a real delimiter and then lists no upload at all.
 */
export const listUploads = async (client: Minio.Client, bucket: string, prefix: string) => {
  const response = await client.makeRequestAsync({ method: 'GET', bucketName: bucket, query: `uploads&prefix=${encodeURIComponent(prefix)}` });
  let xml = '';
  for await (const chunk of response) xml += String(chunk);
  return [...xml.matchAll(/<Upload>([\s\S]*?)<\/Upload>/g)].map(([, upload = '']) => ({
    key: xmlField(upload, 'Key'),
    uploadId: xmlField(upload, 'UploadId'),
    initiated: new Date(xmlField(upload, 'Initiated')),
  }));
};

/**
 * Aborts the multipart uploads under prefix that a stopped process left behind (invisible, but
 * they hold space). Only those older than STALE_UPLOAD_MS: another server may be uploading now.
 * Answers how many it aborted. A bucket lifecycle rule (AbortIncompleteMultipartUpload) does the
 * same on the S3 side.
 */
export const abortStaleUploads = async (client: Minio.Client, bucket: string, prefix: string, now = Date.now()): Promise<number> => {
  const stale = (await listUploads(client, bucket, prefix)).filter((upload) => now - upload.initiated.getTime() > STALE_UPLOAD_MS);
  for (const upload of stale) await client.abortMultipartUpload(bucket, upload.key, upload.uploadId);
  return stale.length;
};
