/**
 * Errors a user can fix — a missing folder, a damaged file, an unknown data set or class — as
 * against bugs. The CLI prints an InputError as one line and exits with code 2; anything else is
 * a failure of another kind (exit 1; TypeErrors and their kin are called internal errors). A message names the thing at fault and, where there is one, the fix.
 */

export class InputError extends Error {
  override name = 'InputError';
}

/** Node's file-system error codes, in words a user reads. */
const FS_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'is a folder, not a file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EEXIST: 'already exists',
  ENAMETOOLONG: 'the name is too long',
};

interface SystemError extends Error {
  code?: string;
  path?: string;
  syscall?: string;
}

/** A file-system error (ENOENT and the like) as an InputError naming the path; other errors unchanged. */
export function describeFsError(e: unknown, what = 'file'): unknown {
  const err = e as SystemError;
  if (!err || typeof err.code !== 'string' || !(err.code in FS_ERRORS)) return e;
  const where = err.path ? `${what} ${err.path}` : what;
  return new InputError(`cannot ${err.syscall === 'open' || err.syscall === 'read' || !err.syscall ? 'read' : err.syscall} ${where}: ${FS_ERRORS[err.code]}`);
}

/** The one line the CLI prints for an error, and its exit code (2: the input or usage, 1: anything else). */
export function errorReport(e: unknown): { line: string; exitCode: number } {
  const described = describeFsError(e);
  if (described instanceof InputError) return { line: `error: ${firstLine(described.message)}`, exitCode: 2 };
  const err = described as Error & { code?: string; exitCode?: number };
  // commander's own usage errors (unknown option, missing argument, invalid value)
  if (typeof err?.code === 'string' && err.code.startsWith('commander.')) return { line: firstLine(err.message), exitCode: 2 };
  const message = err instanceof Error ? err.message : String(e);
  // a TypeError and its kin are bugs of ours; a plain Error is a failure we did not classify
  const bug = err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError;
  return { line: `${bug ? 'internal error' : 'error'}: ${firstLine(message)}${bug ? ' (a bug: TRUSTGC_DEBUG=1 prints the stack trace)' : ''}`, exitCode: 1 };
}

function firstLine(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.length <= 1 ? (lines[0] ?? '') : `${lines[0]} (${lines.length - 1} more line${lines.length > 2 ? 's' : ''}: TRUSTGC_DEBUG=1 shows them)`;
}

/** Words for a file-system error's code ("no such file or folder"), or its message. */
export function fsReason(e: unknown): string {
  const code = (e as SystemError)?.code;
  return (code && FS_ERRORS[code]) ?? (e as Error)?.message ?? String(e);
}

/** A folder that cannot be listed, as an InputError naming it. */
export function unreadableFolder(what: string, dir: string, e: unknown): InputError {
  return new InputError(`cannot read ${what} ${dir}: ${fsReason(e)}`);
}

/** An image file that cannot be decoded, as an InputError naming it and what would work. */
export function unreadableImage(file: string, e: unknown): InputError {
  const message = (e as Error)?.message ?? String(e);
  if ((e as SystemError)?.code || /Input file is missing/.test(message)) return new InputError(`cannot read image ${file}: ${fsReason(e) === message ? 'no such file' : fsReason(e)}`);
  return new InputError(`cannot read image ${file}: not a readable image (${message.split('\n')[0]}); pass a PNG, JPEG, WebP, GIF or TIFF file`);
}
