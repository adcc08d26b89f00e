/* Shared helpers for tspod's native programs. Small, static, no allocation games. */
#ifndef TSPOD_COMMON_H
#define TSPOD_COMMON_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Print "tspod-rt: <what>: <strerror>" and exit with code. */
__attribute__((noreturn, format(printf, 2, 3))) static inline void die(int code, const char *fmt, ...) {
  int e = errno;
  va_list ap;
  char buf[1024];
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (e) dprintf(2, "tspod-rt: %s: %s\n", buf, strerror(e));
  else dprintf(2, "tspod-rt: %s\n", buf);
  _exit(code);
}

/*
 * A relative path built one name at a time while a tree is walked: push a
 * name (after a '/' unless first), pop back to what push returned. Room is
 * kept for two more bytes (a trailing '/').
 */
struct relpath {
  char *s;
  size_t len, cap;
};

static inline size_t relpath_push(struct relpath *r, const char *name) {
  size_t old = r->len, nl = strlen(name);
  if (r->len + nl + 3 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (r->len + nl + 3 > cap) cap *= 2;
    char *n = realloc(r->s, cap);
    if (!n) {
      errno = ENOMEM;
      die(1, "out of memory");
    }
    r->s = n;
    r->cap = cap;
  }
  if (r->len) r->s[r->len++] = '/';
  memcpy(r->s + r->len, name, nl + 1);
  r->len += nl;
  return old;
}

static inline void relpath_pop(struct relpath *r, size_t old) {
  r->len = old;
  if (r->s) r->s[old] = 0;
}

/* Milliseconds of CLOCK_MONOTONIC (deadlines, timeouts). */
static inline long long mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Write a whole string to a file (for /proc/self/uid_map and friends). Returns 0 or -errno. */
static inline int write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = strlen(data);
  ssize_t n = write(fd, data, len);
  int e = n < 0 ? errno : 0;
  close(fd);
  if (n < 0) return -e;
  return (size_t)n == len ? 0 : -EIO;
}

/*
 * Why a host port could not be bound, as the end of "cannot publish port
 * ADDR:PORT/PROTO: ...": in use; below the first port unprivileged users may
 * bind (net.ipv4.ip_unprivileged_port_start, as Podman explains it); else errno.
 */
static inline void port_bind_error(char *buf, size_t n, int e, int port) {
  int start = 1024;
  char v[16] = "";
  int fd = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t r = read(fd, v, sizeof v - 1);
    if (r > 0) v[r] = 0, start = atoi(v);
    close(fd);
  }
  if (e == EADDRINUSE) snprintf(buf, n, "the host port is already in use");
  else if ((e == EACCES || e == EPERM) && port < start)
    snprintf(buf, n, "ports below %d need privileges (net.ipv4.ip_unprivileged_port_start is %d): use a host port >= %d, or lower that setting", start, start, start);
  else snprintf(buf, n, "bind: %s", strerror(e));
}

/* A small file (/proc/PID/..., a pid file) into buf, NUL-terminated: its length, or -1 (empty too). */
static inline ssize_t read_text(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  return n;
}

static inline int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/*
 * The address of a unix socket at path, however long: one too long for
 * sun_path (107 bytes; a runroot may be deeper) is named through its
 * directory's /proc/self/fd link, *dfd then holding that directory open
 * until the bind or connect is done (close it after; -1 when unused).
 * 0; -1 when the directory cannot be opened, -2 when even its file name is
 * too long (errno set).
 */
static inline int unix_address(const char *path, struct sockaddr_un *a, int *dfd) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  *dfd = -1;
  if (strlen(path) < sizeof a->sun_path) {
    strcpy(a->sun_path, path);
    return 0;
  }
  const char *slash = strrchr(path, '/');
  char dir[4096];
  snprintf(dir, sizeof dir, "%.*s", slash && slash > path ? (int)(slash - path) : 1, slash ? path : ".");
  *dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dfd < 0) return -1;
  if ((size_t)snprintf(a->sun_path, sizeof a->sun_path, "/proc/self/fd/%d/%s", *dfd, slash ? slash + 1 : path) >= sizeof a->sun_path) {
    close(*dfd);
    *dfd = -1;
    errno = ENAMETOOLONG;
    return -2;
  }
  return 0;
}

/* Append a JSON string literal (escaped) to out. */
static inline void json_str(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
    else if (c < 0x20) fprintf(out, "\\u%04x", c);
    else fputc(c, out);
  }
  fputc('"', out);
}

/* rmtree.c: remove trees (never crossing mounts, never following symlinks) as
   the calling user; report = print what failed. 0, or -1 with errno. */
int rm_trees(int n, char **paths, int report);

#endif
