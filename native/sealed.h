/*
 * Protects the helper binary from a container (the runc CVE-2019-5736 class).
 * Before a mode that enters a container's namespaces, the helper re-executes
 * itself from a sealed memfd: /proc/PID/exe then points at an anonymous,
 * write-sealed copy, so a process in the container that opens it can never
 * write the binary on the host.
 */
#ifndef TSPOD_SEALED_H
#define TSPOD_SEALED_H
#include "common.h"
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define TSPOD_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static inline int is_sealed_self(void) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int seals = fcntl(fd, F_GET_SEALS);
  close(fd);
  return seals >= 0 && (seals & TSPOD_SEALS) == TSPOD_SEALS;
}

static inline void ensure_sealed_self(char **argv) {
  extern char **environ;
  if (is_sealed_self()) return;
  int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (src < 0) die(125, "open /proc/self/exe");
  struct stat st;
  if (fstat(src, &st) < 0) die(125, "stat /proc/self/exe");
  int mfd = memfd_create("tspod-rt", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) die(125, "memfd_create");
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
    if (n <= 0) die(125, "copy helper into memfd");
  }
  close(src);
  if (fcntl(mfd, F_ADD_SEALS, TSPOD_SEALS) < 0) die(125, "seal memfd");
  fexecve(mfd, argv, environ);
  die(125, "re-exec from sealed memfd");
}
#endif
