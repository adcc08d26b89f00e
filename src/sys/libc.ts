// Every libc call tspod makes from TypeScript goes through this module (koffi).
// In a compiled binary `import "koffi"` fails; requiring the platform addon
// directly embeds it. Loaded lazily: commands that never lock never pay for it.
import { TspodError } from "../errors.ts";

type Fn = (...args: any[]) => any;
interface Libc {
  flock: Fn;
  ioctl: Fn;
  errno: () => number;
  strerror: Fn;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  // The raw addon exposes the same API as the "koffi" package's JS wrapper.
  const koffi = require("@koromix/koffi-linux-x64/linux_x64/koffi.node");
  const lib = koffi.load("libc.so.6");
  libc = {
    flock: lib.func("int flock(int fd, int op)"),
    ioctl: lib.func("int ioctl(int fd, unsigned long request, ...)"),
    errno: () => koffi.errno(),
    strerror: lib.func("const char *strerror(int errnum)"),
  };
  return libc;
}

/**
 * Load koffi and libc now: the first call otherwise pays ~2.5 ms (dlopen of the
 * addon and libstdc++), measured. Callers use it while they wait for another
 * process (the monitor setting a container up, a registry answering).
 */
export function preloadLibc(): void {
  try {
    load();
  } catch {}
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
const EINTR = 4;
const EWOULDBLOCK = 11;

/** flock(2). Returns false only for LOCK_NB when the lock is held elsewhere. */
export function flock(fd: number, op: number): boolean {
  const l = load();
  for (;;) {
    if (l.flock(fd, op) === 0) return true;
    const e = l.errno();
    if (e === EINTR) continue;
    if (e === EWOULDBLOCK && op & LOCK_NB) return false;
    throw new TspodError(`flock: ${l.strerror(e)}`);
  }
}

const FS_IOC_GETFLAGS = 0x80086601; // _IOR('f', 1, long)
const FS_IOC_SETFLAGS = 0x40086602; // _IOW('f', 2, long)
const FS_TOPDIR_FL = 0x00020000;

/**
 * Mark a directory as the top of directory hierarchies (ext4's FS_TOPDIR_FL,
 * `chattr +T`): the Orlov allocator then spreads the directories made in it
 * over block groups, as it does for those in /. A hint: false when the
 * filesystem has no such flag or refuses it.
 */
export function setTopDir(fd: number): boolean {
  const l = load();
  const flags = [0];
  if (l.ioctl(fd, FS_IOC_GETFLAGS, "int *", flags) !== 0) return false;
  if (flags[0]! & FS_TOPDIR_FL) return true;
  return l.ioctl(fd, FS_IOC_SETFLAGS, "int *", [flags[0]! | FS_TOPDIR_FL]) === 0;
}
