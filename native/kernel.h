/*
 * Kernel ABI bits musl's headers lack (musl-gcc does not see linux/ headers):
 * openat2(2), capset(2), inode flags. Values from the kernel's uapi headers.
 */
#ifndef TSPOD_KERNEL_H
#define TSPOD_KERNEL_H
#include <stdint.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define TSPOD_RESOLVE_NO_XDEV 0x01
#define TSPOD_RESOLVE_NO_MAGICLINKS 0x02
#define TSPOD_RESOLVE_NO_SYMLINKS 0x04
#define TSPOD_RESOLVE_BENEATH 0x08
#define TSPOD_RESOLVE_IN_ROOT 0x10

struct kernel_open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};

#define TSPOD_CAP_VERSION_3 0x20080522
struct kernel_cap_header {
  uint32_t version;
  int pid;
};
struct kernel_cap_data {
  uint32_t effective;
  uint32_t permitted;
  uint32_t inheritable;
};
/* linux/fs.h: FS_IOC_GETFLAGS/SETFLAGS (_IOR/_IOW('f', 1/2, long)), FS_TOPDIR_FL */
#define TSPOD_FS_IOC_GETFLAGS 0x80086601UL
#define TSPOD_FS_IOC_SETFLAGS 0x40086602UL
#define TSPOD_FS_TOPDIR_FL 0x00020000
#endif
