// Every libc call tspod makes from TypeScript goes through this module.
//
// It is bun:ffi, not koffi (the FFI DESIGN.md proposes). Measured in a compiled
// binary: loading koffi's addon, which brings libstdc++ with it, took 2.3-4.9 ms
// of the main thread in every process that locks (pull, run, rm...); bun:ffi's
// dlopen of libc with the symbols below takes 0.5-0.8 ms. Interleaved A/B of
// 25 cold busybox pulls: -4 ms wall and -5 ms CPU (mean); run --rm true:
// 27.1 -> 21.6 ms. Loaded lazily: commands that never lock never pay for it.
import { TspodError } from "../errors.ts";

type Fn = (...args: any[]) => any;
interface Libc {
  flock: Fn;
  /** ioctl(fd, request, int *) with arr[0] as the int, updated from the call */
  ioctl: (fd: number, req: number, arr: number[]) => number;
  errno: () => number;
  strerror: (e: number) => string;
  tcgetattr: (fd: number, buf: Uint8Array) => number;
  tcsetattr: (fd: number, when: number, buf: Uint8Array) => number;
  /** syscall(nr, NULL, a2, a3) */
  syscall3: (nr: number, a2: number, a3: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const { dlopen, FFIType, read } = require("bun:ffi") as typeof import("bun:ffi");
  const { i32, i64, u64, ptr, cstring } = FFIType;
  const lib = dlopen("libc.so.6", {
    flock: { args: [i32, i32], returns: i32 },
    ioctl: { args: [i32, u64, ptr], returns: i32 },
    __errno_location: { args: [], returns: ptr },
    strerror: { args: [i32], returns: cstring },
    tcgetattr: { args: [i32, ptr], returns: i32 },
    tcsetattr: { args: [i32, i32, ptr], returns: i32 },
    syscall: { args: [i64, ptr, u64, u64], returns: i64 },
  });
  // The main thread's errno, read right after a call that failed: nothing runs
  // between the two (no await), so nothing else can have set it.
  const errnoAt = lib.symbols.__errno_location()!;
  libc = {
    flock: lib.symbols.flock,
    ioctl: (fd, req, arr) => {
      const buf = new Int32Array(arr);
      const r = lib.symbols.ioctl(fd, req, buf);
      arr[0] = buf[0]!;
      return r;
    },
    errno: () => read.i32(errnoAt, 0),
    strerror: (e) => String(lib.symbols.strerror(e)),
    tcgetattr: (fd, buf) => lib.symbols.tcgetattr(fd, buf),
    tcsetattr: (fd, when, buf) => lib.symbols.tcsetattr(fd, when, buf),
    syscall3: (nr, a2, a3) => Number(lib.symbols.syscall(nr, null, a2, a3)),
  };
  return libc;
}

/**
 * Load libc's symbols now (~0.5-0.8 ms): callers use it while they wait for
 * another process (the monitor setting a container up, a registry answering).
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
  if (l.ioctl(fd, FS_IOC_GETFLAGS, flags) !== 0) return false;
  if (flags[0]! & FS_TOPDIR_FL) return true;
  return l.ioctl(fd, FS_IOC_SETFLAGS, [flags[0]! | FS_TOPDIR_FL]) === 0;
}

const OPOST = 1;
/**
 * Output processing off on a terminal already in raw mode (Bun's setRawMode,
 * like libuv's, leaves OPOST and ONLCR on): the container's own terminal has
 * done it already, and a second pass turned its \r\n into \r\r\n and a bare
 * \n (vi, less, top turn ONLCR off to move down a line) into \r\n. setRawMode(false)
 * restores the terminal as it was. struct termios: c_oflag is the second u32.
 * Returns what turns output processing on again.
 */
export function rawOutput(fd: number): () => void {
  const l = load();
  const t = new Uint8Array(64);
  if (l.tcgetattr(fd, t) !== 0) return () => {};
  const v = new DataView(t.buffer);
  const oflag = v.getUint32(4, true);
  if (!(oflag & OPOST)) return () => {};
  v.setUint32(4, oflag & ~OPOST, true);
  l.tcsetattr(fd, 0 /* TCSANOW */, t);
  // what -t without -i needs to put back (with -i, setRawMode(false) does it)
  return () => {
    const now = new Uint8Array(64);
    if (l.tcgetattr(fd, now) !== 0) return;
    const w = new DataView(now.buffer);
    w.setUint32(4, w.getUint32(4, true) | OPOST, true);
    l.tcsetattr(fd, 0, now);
  };
}

/**
 * Landlock's ABI version (landlock_create_ruleset(NULL, 0, VERSION), the same
 * syscall number everywhere), or 0 where the kernel has none or it is off.
 */
export function landlockAbi(): number {
  try {
    return Math.max(0, load().syscall3(444, 0, 1));
  } catch {
    return 0;
  }
}
