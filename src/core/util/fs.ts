import * as fs from 'fs';
import * as path from 'path';
import { fsProblem } from './errno';

let counter = 0;

/**
 * Writes `data` to `file` atomically: the bytes go to a temporary file in the same directory, which is then
 * renamed over `file`, so readers see the old file or the complete new one, never a partial write.
 * Creates missing parent directories. Errors name the file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // the write error below is the one to report
    }
    throw new Error(`cannot write ${file}: ${fsProblem(e)}`);
  }
}

/** Reads and parses a JSON file; errors name the file and say whether it is missing or not JSON. */
export function readJson(file: string): any {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try { return JSON.parse(text); } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}
