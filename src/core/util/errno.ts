// File system errors in words: Node's messages (`EEXIST: file already exists, mkdir '/x'`) name a system call,
// not the problem a person can fix.

const WORDS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EEXIST: 'a file of that name is in the way',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENAMETOOLONG: 'the name is too long',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  EBUSY: 'the file is busy',
  EINVAL: 'the path is not valid here',
  EXDEV: 'the path crosses file systems',
  EIO: 'an input/output error of the device',
};

/** What went wrong, in words (the error code in brackets), for an error of the `fs` module. */
export function fsProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code && WORDS[code]) return `${WORDS[code]} (${code})`;
  const msg = (e as Error)?.message ?? String(e);
  // `EXYZ: text, syscall 'path'` -> `text (EXYZ)`
  const m = /^(E[A-Z]+): ([^,]+)/.exec(msg);
  return m ? `${m[2]} (${m[1]})` : msg;
}
