/**
 * Where segments are kept: a directory (the default) or an S3-compatible bucket. A target writes a
 * file so that it is either absent or whole under its final name: the directory writes a partial
 * file, fsyncs it, checks it reads back with the same SHA-256, renames it and fsyncs the directory;
 * S3 makes an object visible only once its upload is complete and checks the upload's Content-MD5.
 * The AWS SDK is imported on first use, so commands that never touch S3 do not load it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ColdArchiveConfig } from '../../config.js';
import type { ArchiveTargetKind } from '../../store/index.js';
import { sha256 } from './segment-format.js';

export interface StoredObject {
  name: string;
  /** When it was last written (epoch ms). */
  modifiedMs: number;
}

export interface ArchiveTarget {
  readonly kind: ArchiveTargetKind;
  /** The directory's absolute path, or `s3://bucket/prefix`. */
  readonly location: string;
  /** Writes `name` whole or not at all. */
  put(name: string, data: Buffer): Promise<void>;
  /** The object's bytes, or null when there is none. */
  get(name: string): Promise<Buffer | null>;
  /** Removes `name`; one that is not there is no error. */
  remove(name: string): Promise<void>;
  /** Every object of the target (partial writes included). */
  list(): Promise<StoredObject[]>;
}

/** The target the configuration names: the S3 bucket when one is set, else the directory. */
export function configuredTarget(config: ColdArchiveConfig): ArchiveTarget {
  return config.s3 ? new S3Target(config.s3) : new DirectoryTarget(config.directory);
}

/**
 * The target a segment was written to (its row's `target` and `location`): the directory it names,
 * or its bucket and prefix reached with the configured endpoint, region and credentials.
 */
export function targetAt(kind: ArchiveTargetKind, location: string, config: ColdArchiveConfig): ArchiveTarget {
  if (kind === 'directory') return new DirectoryTarget(location);
  const rest = location.replace(/^s3:\/\//, '');
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  return new S3Target({ endpoint: null, region: null, forcePathStyle: false, ...config.s3, bucket, prefix });
}

export class DirectoryTarget implements ArchiveTarget {
  readonly kind = 'directory' as const;
  readonly location: string;

  constructor(directory: string) {
    this.location = resolve(directory);
  }

  async put(name: string, data: Buffer): Promise<void> {
    await mkdir(this.location, { recursive: true });
    const partial = join(this.location, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.partial`);
    const file = await open(partial, 'wx');
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      // Read back before it takes its final name: a short write or a bad disk shows here, not at restore.
      if (sha256(await readFile(partial)) !== sha256(data)) throw new Error(`${partial}: the file read back differs from what was written`);
      await rename(partial, join(this.location, name));
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    await syncDirectory(this.location);
  }

  async get(name: string): Promise<Buffer | null> {
    try {
      return await readFile(join(this.location, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.location, name), { force: true });
  }

  async list(): Promise<StoredObject[]> {
    let names: string[];
    try {
      names = await readdir(this.location);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const objects: StoredObject[] = [];
    for (const name of names) {
      const info = await stat(join(this.location, name)).catch(() => null);
      if (info?.isFile()) objects.push({ name, modifiedMs: info.mtimeMs });
    }
    return objects;
  }
}

/** A rename is durable once its directory is synced (POSIX); where a directory cannot be opened for it, nothing more can be done. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r').catch(() => null);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

type S3Settings = NonNullable<ColdArchiveConfig['s3']>;
type S3Module = typeof import('@aws-sdk/client-s3');

export class S3Target implements ArchiveTarget {
  readonly kind = 's3' as const;
  readonly location: string;
  private client: Promise<{ s3: S3Module; client: InstanceType<S3Module['S3Client']> }> | undefined;

  constructor(private readonly settings: S3Settings) {
    this.location = `s3://${settings.bucket}/${settings.prefix}`;
  }

  private connect(): Promise<{ s3: S3Module; client: InstanceType<S3Module['S3Client']> }> {
    return (this.client ??= import('@aws-sdk/client-s3').then((s3) => {
      const { endpoint, region, forcePathStyle } = this.settings;
      // Credentials (and the region, when none is set) come from the AWS SDK's default chain.
      const client = new s3.S3Client({ ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}), forcePathStyle });
      return { s3, client };
    }));
  }

  private key(name: string): string {
    return `${this.settings.prefix}${name}`;
  }

  async put(name: string, data: Buffer): Promise<void> {
    const { s3, client } = await this.connect();
    const md5 = createHash('md5').update(data).digest('base64');
    // S3 refuses a body whose MD5 differs from Content-MD5, and shows an object only once it is whole.
    await client.send(new s3.PutObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name), Body: data, ContentMD5: md5, ContentLength: data.length }));
    const head = await client.send(new s3.HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name) }));
    if (head.ContentLength !== data.length) throw new Error(`${this.location}${name}: stored ${String(head.ContentLength)} bytes, ${data.length} were sent`);
  }

  async get(name: string): Promise<Buffer | null> {
    const { s3, client } = await this.connect();
    try {
      const out = await client.send(new s3.GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name) }));
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (error) {
      if (error instanceof s3.NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  }

  async remove(name: string): Promise<void> {
    const { s3, client } = await this.connect();
    await client.send(new s3.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name) }));
  }

  async list(): Promise<StoredObject[]> {
    const { s3, client } = await this.connect();
    const objects: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new s3.ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: this.settings.prefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        const name = item.Key.slice(this.settings.prefix.length);
        // Only this prefix's own level: a prefix `a/` must not take `a/b/...` objects for its own.
        if (!name.includes('/')) objects.push({ name, modifiedMs: item.LastModified?.getTime() ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  /** Closes the SDK client's connections. */
  async close(): Promise<void> {
    if (this.client) (await this.client).client.destroy();
  }
}
