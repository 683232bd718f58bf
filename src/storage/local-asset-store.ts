// Assets as files under DATA_DIR/assets. A write goes to a temp file in the same directory, is fsynced and then
// renamed over the final name, so readers never see half a file and a retried activity simply rewrites it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { assertAssetKey, type AssetContent, type AssetStore, type StoredAsset } from './asset-store.js';

export function createLocalAssetStore(dataDir: string): AssetStore {
  const root = path.resolve(dataDir, 'assets');
  const fileFor = (key: string) => path.join(root, ...assertAssetKey(key));

  return {
    async put(key: string, bytes: Uint8Array): Promise<StoredAsset> {
      const target = fileFor(key);
      const dir = path.dirname(target);
      await mkdir(dir, { recursive: true });
      const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        const handle = await open(temp, 'wx', 0o640);
        try {
          await handle.writeFile(bytes);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, target);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      await syncDirectory(dir);
      return { key, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
    },

    async get(key: string): Promise<AssetContent | null> {
      let handle;
      try {
        handle = await open(fileFor(key), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
      const { size } = await handle.stat();
      return { size, body: handle.createReadStream({ autoClose: true }) };
    },

    async delete(key: string): Promise<void> {
      await rm(fileFor(key), { force: true });
    },
  };
}

// Makes the rename itself durable; some filesystems refuse to fsync a directory, which only weakens that guarantee.
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // best effort
  } finally {
    await handle?.close();
  }
}
