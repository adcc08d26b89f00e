/*
 * Starting a container process (see spec.h). The caller forks the child with
 * clone() into new namespaces, maps its user namespace, and the child builds
 * its root filesystem, pivots into it, drops privileges and execs.
 * Every failing step reports errno plus what it was doing through a pipe.
 */
#include "common.h"
#include "caps.gen.h" /* CAP_NAMES, by number (scripts/build.ts writes it from src/container/caps.ts) */
#include "idmap.h"
#include "lend.h"
#include "spec.h"
#include <grp.h>
#include "kernel.h"
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/file.h>
#include <sys/wait.h>

struct start_error {
  int err;
  char msg[1024];
};

int g_errfd = -1;
int ctr_keep_ns, ctr_netns_fd = -1, ctr_userns_fd = -1, ctr_lend_fd = -1;
void (*ctr_after_clone)(pid_t pid);

/* Report a failed step to the parent and exit. */
__attribute__((noreturn, format(printf, 1, 2))) void ctr_fail(const char *fmt, ...) {
  struct start_error e;
  e.err = errno ? errno : EINVAL;
  va_list ap;
  va_start(ap, fmt);
  char what[700];
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(e.msg, sizeof e.msg, "%s: %s", what, strerror(e.err));
  if (g_errfd >= 0) write_all(g_errfd, &e, sizeof e);
  _exit(125);
}

#define fail ctr_fail

/* The same, for a message that says it all already (no strerror added). */
__attribute__((noreturn)) static void fail_plain(int err, const char *msg) {
  struct start_error e;
  e.err = err;
  snprintf(e.msg, sizeof e.msg, "%s", msg);
  if (g_errfd >= 0) write_all(g_errfd, &e, sizeof e);
  _exit(125);
}

int ctr_read_start_error(int fd, char *msg, size_t msglen) {
  struct start_error e;
  size_t got = 0;
  while (got < sizeof e) {
    ssize_t n = read(fd, (char *)&e + got, sizeof e - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got == 0) return 0; /* EOF: exec succeeded */
  if (got < sizeof e) {
    snprintf(msg, msglen, "container start failed");
    return EIO;
  }
  e.msg[sizeof e.msg - 1] = 0;
  snprintf(msg, msglen, "%s", e.msg);
  return e.err ? e.err : EIO;
}

/* ---- paths confined to the rootfs ---- */

static int open_in_root(int rootfd, const char *path, int flags) {
  struct kernel_open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .mode = 0, .resolve = TSPOD_RESOLVE_IN_ROOT | TSPOD_RESOLVE_NO_MAGICLINKS};
  while (*path == '/') path++;
  if (!*path) path = ".";
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* mkdir -p PATH inside the rootfs (symlinks resolved as if rootfs were /). */
static void mkdirs_in_root(int rootfd, const char *path, mode_t mode) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      int fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY);
      if (fd >= 0) close(fd);
      else {
        char *slash = strrchr(buf, '/');
        const char *name = slash ? slash + 1 : buf;
        char parent[4096];
        snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - buf) : 0, buf);
        int pfd = open_in_root(rootfd, parent[0] ? parent : "/", O_PATH | O_DIRECTORY);
        if (pfd < 0) fail("open %s in rootfs", parent);
        if (mkdirat(pfd, name, mode) < 0 && errno != EEXIST) fail("mkdir %s in rootfs", buf);
        close(pfd);
      }
      if (!c) break;
      *p = c;
    }
  }
}

/* A mount target inside the rootfs as /proc/self/fd/N; created as a dir or an empty file. */
static int target_fd(int rootfd, const char *path, int is_file, char *out, size_t outlen) {
  int fd = open_in_root(rootfd, path, O_PATH);
  if (fd < 0) {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = 0;
    else snprintf(parent, sizeof parent, "/");
    mkdirs_in_root(rootfd, parent, 0755);
    if (is_file) {
      int pfd = open_in_root(rootfd, parent, O_PATH | O_DIRECTORY);
      const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
      if (pfd < 0) fail("open %s in rootfs", parent);
      int f = openat(pfd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (f < 0 && errno != EEXIST) fail("create mount point %s", path);
      if (f >= 0) close(f);
      close(pfd);
    } else mkdirs_in_root(rootfd, path, 0755);
    fd = open_in_root(rootfd, path, O_PATH);
    if (fd < 0) fail("open mount point %s", path);
  }
  snprintf(out, outlen, "/proc/self/fd/%d", fd);
  return fd;
}

static unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs(path, &sv) < 0) return 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

static void remount_ro(const char *path, unsigned long extra) {
  if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(path) | extra, NULL) < 0)
    fail("remount %s read-only", path);
}

/* ---- the root filesystem ---- */

static void mount_rootfs(const struct spec *s, int rootless) {
  const char *drv = s->driver ? s->driver : "overlay";
  if (!strcmp(drv, "vfs")) {
    if (mount(s->rootfs, s->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) fail("bind rootfs %s", s->rootfs);
    return;
  }
  if (s->nlower < 1) fail("no lower layers for %s", drv);
  static char opts[16384];
  size_t o = 0;
  o += (size_t)snprintf(opts + o, sizeof opts - o, "lowerdir=");
  for (int i = 0; i < s->nlower; i++) o += (size_t)snprintf(opts + o, sizeof opts - o, "%s%s", i ? ":" : "", s->lower[i]);
  if (s->upper) o += (size_t)snprintf(opts + o, sizeof opts - o, ",upperdir=%s,workdir=%s", s->upper, s->work);
  if (!strcmp(drv, "overlay")) {
    if (rootless) o += (size_t)snprintf(opts + o, sizeof opts - o, ",userxattr");
    if (s->chdir_layers && chdir(s->chdir_layers) < 0) fail("chdir %s", s->chdir_layers);
    if (mount("overlay", s->rootfs, "overlay", 0, opts) < 0) fail("mount overlay on %s (%zu bytes of options)", s->rootfs, o);
    return;
  }
  if (!strcmp(drv, "fuse-overlayfs")) {
    if (s->chdir_layers && chdir(s->chdir_layers) < 0) fail("chdir %s", s->chdir_layers);
    pid_t p = fork();
    if (p < 0) fail("fork fuse-overlayfs");
    if (p == 0) {
      int devnull = open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
      }
      execlp("fuse-overlayfs", "fuse-overlayfs", "-o", opts, s->rootfs, (char *)NULL);
      _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      errno = WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ENOENT : EIO;
      fail("fuse-overlayfs on %s", s->rootfs);
    }
    /* fuse-overlayfs serves from this mount namespace. The pivot_root to come
     * moves the root and working directory of every process here that has
     * the old ones: the daemon's would become its own mount, and its lookups
     * of /proc/self/fd/... went through itself and never came back (a
     * container hung creating a file in /). The container goes on in a copy
     * of this namespace; the daemon keeps this one and its old root. */
    if (unshare(CLONE_NEWNS) < 0) fail("a mount namespace apart from fuse-overlayfs'");
    return;
  }
  errno = EINVAL;
  fail("unknown storage driver %s", drv);
}

static void bind_dev(int rootfd, const char *name) {
  char host[64], tgt[64], rel[64];
  snprintf(host, sizeof host, "/dev/%s", name);
  snprintf(rel, sizeof rel, "/dev/%s", name);
  int fd = target_fd(rootfd, rel, 1, tgt, sizeof tgt);
  if (mount(host, tgt, NULL, MS_BIND, NULL) < 0) fail("bind %s", host);
  close(fd);
}

static void mount_at(int rootfd, const char *rel, const char *src, const char *type, unsigned long flags, const char *data) {
  char tgt[64];
  int fd = target_fd(rootfd, rel, 0, tgt, sizeof tgt);
  if (mount(src, tgt, type, flags, data) < 0) fail("mount %s on %s", type ? type : src, rel);
  close(fd);
}

static void symlink_in_root(int rootfd, const char *target, const char *rel) {
  char parent[256];
  snprintf(parent, sizeof parent, "%s", rel);
  char *slash = strrchr(parent, '/');
  *slash = 0;
  int pfd = open_in_root(rootfd, parent, O_PATH | O_DIRECTORY);
  if (pfd < 0) fail("open %s", parent);
  if (symlinkat(target, pfd, slash + 1) < 0 && errno != EEXIST) fail("symlink %s", rel);
  close(pfd);
}

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/*
 * The container's terminal, as crun makes it: a pty of the container's own
 * devpts (its /dev/pts/N, the name tty and ttyname() give), owned by the
 * container's user (mode 0620, group tty where the map has it), so that a
 * process running as -u 1000 may open its own terminal again (screen, su,
 * ssh, gpg's pinentry). It becomes fds 0-2 and the controlling terminal, is
 * bound on /dev/console, and its master goes to the monitor over sock.
 * Without a rootfs (rootfd -1: the runtime's own tests) the pty is one of
 * /dev/ptmx as this process sees it, and there is no /dev/console to bind.
 */
static void make_console(const struct spec *s, int rootfd, int sock) {
  int m = rootfd >= 0 ? open_in_root(rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY) : open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) fail("open %s", rootfd >= 0 ? "the container's /dev/pts/ptmx" : "/dev/ptmx");
  int unlock = 0;
  if (ioctl(m, TIOCSPTLCK, &unlock) < 0) fail("unlock the container's pty");
  int pt = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (pt < 0) fail("open the container's pty");
  /* (a refusal leaves it root's: still the process's terminal, as before) */
  if (s->uid) (void)fchown(pt, s->uid, (gid_t)-1);
  if (rootfd >= 0) {
    char tgt[64], src[64];
    int fd = target_fd(rootfd, "/dev/console", 1, tgt, sizeof tgt);
    snprintf(src, sizeof src, "/proc/self/fd/%d", pt);
    if (mount(src, tgt, NULL, MS_BIND, NULL) < 0) fail("bind the terminal on /dev/console");
    close(fd);
  }
  for (int i = 0; i < 3; i++)
    if (dup2(pt, i) < 0) fail("dup2 the terminal");
  close(pt);
  if (ioctl(0, TIOCSCTTY, 0) < 0) fail("make the terminal controlling");
  if (lend_send_fd(sock, "t", 1, m) < 0) fail("hand the terminal to the monitor");
  close(m);
}

static void setup_dev(const struct spec *s, int rootfd, int gid5_mapped, int sync_fd) {
  mount_at(rootfd, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  const char *devs[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) bind_dev(rootfd, devs[i]);
  mount_at(rootfd, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
           gid5_mapped ? "newinstance,ptmxmode=0666,mode=0620,gid=5" : "newinstance,ptmxmode=0666,mode=0620");
  symlink_in_root(rootfd, "pts/ptmx", "/dev/ptmx");
  mount_at(rootfd, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  if (s->ns_ipc) mount_at(rootfd, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  symlink_in_root(rootfd, "/proc/self/fd", "/dev/fd");
  symlink_in_root(rootfd, "/proc/self/fd/0", "/dev/stdin");
  symlink_in_root(rootfd, "/proc/self/fd/1", "/dev/stdout");
  symlink_in_root(rootfd, "/proc/self/fd/2", "/dev/stderr");
  symlink_in_root(rootfd, "/proc/kcore", "/dev/core");
  if (s->tty) make_console(s, rootfd, sync_fd);
}

/* copylayers.c: both exit on failure (one line on stderr), so they run in a child */
void copy_tree_into(int sfd, const char *src, int dfd, const char *dest);
void clear_tree(int dfd, const char *dest);

/* Run fn(a, b) in a child whose stderr comes back here; 0, or -1 with its line in msg. */
static int in_child(void (*fn)(int, int, const char *), int a, int b, const char *arg, char *msg, size_t len) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) fail("pipe");
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    close(p[0]);
    dup2(p[1], 2);
    umask(0);
    fn(a, b, arg);
    _exit(0);
  }
  close(p[1]);
  size_t got = 0;
  ssize_t r;
  while (got < len - 1 && ((r = read(p[0], msg + got, len - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
    if (r > 0) got += (size_t)r;
  msg[got] = 0;
  if (got && msg[got - 1] == '\n') msg[got - 1] = 0;
  close(p[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}
static void do_copy_tree(int sfd, int vfd, const char *dst) { copy_tree_into(sfd, dst, vfd, "the volume"); }
static void do_clear_tree(int vfd, int unused, const char *dst) {
  (void)unused;
  (void)dst;
  clear_tree(vfd, "the volume");
}

/* The directory has nothing in it but . and .. (-1: cannot tell) */
static int dir_empty(int fd) {
  union {
    char b[1024];
    uint64_t align;
  } buf;
  long n = syscall(SYS_getdents64, fd, buf.b, sizeof buf.b);
  if (n < 0) return -1;
  for (long off = 0; off < n;) {
    /* struct linux_dirent64: ino, off (8 bytes each), reclen (2), type (1), name */
    unsigned short reclen;
    memcpy(&reclen, buf.b + off + 16, sizeof reclen);
    const char *name = buf.b + off + 19;
    if (strcmp(name, ".") && strcmp(name, "..")) return 0;
    off += reclen;
  }
  return 1;
}

/*
 * A named volume's first use (a mount record's fifth field: the volume's own
 * directory, where copied-up marks it done): when empty, it gets what the
 * image has at the mount point, as Podman and Docker do. Done before /proc,
 * /dev, /sys or any other mount is in the rootfs: only the image's (and the
 * container's own) files are copied. Under a lock (two containers starting
 * on one new volume); once done (or found not empty) never again; with
 * nothing in the image there, left for a later use. A copy that fails is undone: the volume is left
 * empty and not marked, and the start fails with the copy's reason.
 */
static void copy_up(int rootfd, const char *vol, const char *dst, const char *voldir) {
  int dirfd = open(voldir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) fail("volume %s", voldir);
  int lk = openat(dirfd, "copy-up.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lk < 0) fail("volume lock %s/copy-up.lock", voldir);
  while (flock(lk, LOCK_EX) < 0)
    if (errno != EINTR) fail("lock %s/copy-up.lock", voldir);
  if (faccessat(dirfd, "copied-up", F_OK, AT_SYMLINK_NOFOLLOW) == 0) goto done;
  int vfd = open(vol, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (vfd < 0) fail("volume %s", vol);
  int empty = dir_empty(vfd) == 1;
  int sfd = empty ? open_in_root(rootfd, dst, O_RDONLY | O_DIRECTORY) : -1;
  if (empty && sfd < 0) { /* nothing in the image there: a later first use elsewhere may still copy (as Podman) */
    close(vfd);
    goto done;
  }
  if (sfd >= 0) {
    char msg[600];
    if (in_child(do_copy_tree, sfd, vfd, dst, msg, sizeof msg) < 0) {
      char undo[300] = "";
      int undone = lseek(vfd, 0, SEEK_SET) == 0 && in_child(do_clear_tree, vfd, -1, dst, undo, sizeof undo) == 0;
      errno = EIO;
      fail("copy %s into its volume (%s)%s", dst, msg[0] ? msg : "the copy failed", undone ? "" : "; what was copied stays in it");
    }
    close(sfd);
  }
  close(vfd);
  int m = openat(dirfd, "copied-up", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (m < 0) fail("mark %s/copied-up", voldir);
  close(m);
done:
  close(lk); /* (unlocks) */
  close(dirfd);
}

/* A mount record, TYPE\tSRC\tDST[\tOPTIONS[\tVOLUMEDIR]], split in place (once) into its fields. */
struct mrec {
  const char *f[5];
  int n;
};
static void split_mount(char *rec, struct mrec *m) {
  m->n = 0;
  for (char *p = rec; m->n < 5;) {
    m->f[m->n++] = p;
    char *tab = strchr(p, '\t');
    if (!tab) break;
    *tab = 0;
    p = tab + 1;
  }
  if (m->n < 3) {
    errno = EINVAL;
    fail("bad mount record");
  }
}

struct mopts {
  int ro, is_file;
  unsigned long flags;
  char data[512];
};
static void parse_mopts(const struct mrec *m, struct mopts *o) {
  memset(o, 0, sizeof *o);
  char copy[512];
  snprintf(copy, sizeof copy, "%s", m->n > 3 ? m->f[3] : "");
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (!strcmp(t, "ro")) o->ro = 1;
    else if (!strcmp(t, "rw")) o->ro = 0;
    else if (!strcmp(t, "nosuid")) o->flags |= MS_NOSUID;
    else if (!strcmp(t, "nodev")) o->flags |= MS_NODEV;
    else if (!strcmp(t, "noexec")) o->flags |= MS_NOEXEC;
    else if (!strcmp(t, "file")) o->is_file = 1;
    else {
      size_t l = strlen(o->data);
      snprintf(o->data + l, sizeof o->data - l, "%s%s", l ? "," : "", t);
    }
  }
}

/* A mount, writable yet: read-only ones are made so by user_mount_ro once every
   mount is in (a mount point inside a read-only one must still be made, as crun
   does it: -v src:/app:ro -v /app/node_modules). */
static void user_mount(int rootfd, const struct mrec *m) {
  const char *type = m->f[0], *src = m->f[1], *dst = m->f[2];
  struct mopts o;
  parse_mopts(m, &o);
  char tgt[64];
  if (!strcmp(type, "bind")) {
    struct stat st;
    if (stat(src, &st) < 0) fail("bind mount source %s", src);
    int fd = target_fd(rootfd, dst, !S_ISDIR(st.st_mode), tgt, sizeof tgt);
    if (mount(src, tgt, NULL, MS_BIND | MS_REC, NULL) < 0) fail("bind %s on %s", src, dst);
    close(fd);
    if (o.flags) {
      fd = target_fd(rootfd, dst, 0, tgt, sizeof tgt);
      if (mount(NULL, tgt, NULL, MS_BIND | MS_REMOUNT | o.flags | locked_flags(tgt), NULL) < 0) fail("remount %s", dst);
      close(fd);
    }
  } else {
    int fd = target_fd(rootfd, dst, o.is_file, tgt, sizeof tgt);
    if (mount(src, tgt, type, o.flags, o.data[0] ? o.data : NULL) < 0) fail("mount %s on %s", type, dst);
    close(fd);
  }
}

/* The second pass: a read-only mount made so (its own mount only, not those inside it). */
static void user_mount_ro(int rootfd, const struct mrec *m) {
  struct mopts o;
  parse_mopts(m, &o);
  if (!o.ro) return;
  char tgt[64];
  int fd = target_fd(rootfd, m->f[2], 0, tgt, sizeof tgt);
  if (mount(NULL, tgt, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | o.flags | locked_flags(tgt), NULL) < 0) fail("remount %s read-only", m->f[2]);
  close(fd);
}

static void mask_path(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return; /* nothing to hide */
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0") < 0 && errno != ENOENT) fail("mask %s", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0 && errno != ENOENT) fail("mask %s", path);
}

static void readonly_path(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return;
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) fail("bind %s", path);
  remount_ro(path, MS_REC);
}

/* ---- capabilities ---- */

#define NCAPS ((int)(sizeof CAP_NAMES / sizeof CAP_NAMES[0]))

static unsigned long long caps_mask(const char *const *names, int n) {
  unsigned long long m = 0;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < NCAPS; c++)
      if (!strcasecmp(names[i], CAP_NAMES[c])) m |= 1ULL << c;
  return m;
}

void ctr_set_creds(const struct spec *s) {
  unsigned long long keep = caps_mask(s->caps, s->ncaps);
  int last = NCAPS - 1;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = NCAPS - 1;
    fclose(f);
  }
  if (s->all_caps) {
    /* every capability this process has (root on a host may lack some: not all the kernel's) */
    struct kernel_cap_header h = {TSPOD_CAP_VERSION_3, 0};
    struct kernel_cap_data d[2];
    memset(d, 0, sizeof d);
    keep = syscall(SYS_capget, &h, d) == 0 ? (unsigned long long)d[0].permitted | (unsigned long long)d[1].permitted << 32
                                           : (last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1);
  }
  for (int c = 0; c <= last && c < 64; c++)
    if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) fail("drop capability %d from the bounding set", c);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail("keep capabilities");
  if (setgroups((size_t)s->ngroups, s->groups) < 0) {
    /* a single-id map denies setgroups: only the one group exists there anyway */
    char sg[16] = "";
    int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t n = read(fd, sg, sizeof sg - 1);
      if (n > 0) sg[n] = 0;
      close(fd);
    }
    if (!(errno == EPERM && !strncmp(sg, "deny", 4))) fail("setgroups");
  }
  if (setresgid(s->gid, s->gid, s->gid) < 0) fail("setgid %u", (unsigned)s->gid);
  if (setresuid(s->uid, s->uid, s->uid) < 0) fail("setuid %u", (unsigned)s->uid);
  struct kernel_cap_header hdr = {TSPOD_CAP_VERSION_3, 0};
  struct kernel_cap_data data[2];
  memset(data, 0, sizeof data);
  /* Like Podman: a user other than root has no effective capabilities but those
     --cap-add gave, which are ambient too, so that they survive the exec. */
  unsigned long long amb = s->uid == 0 ? 0 : caps_mask(s->ambient, s->nambient) & keep;
  unsigned long long eff = s->uid == 0 ? keep : amb;
  data[0].effective = data[0].permitted = (unsigned)eff;
  data[1].effective = data[1].permitted = (unsigned)(eff >> 32);
  /* No other inheritable capabilities (as runc since CVE-2022-24769, crun and
     Podman): with them, a program with inheritable file capabilities run by a
     user root switched to would gain those. An ambient one must be inheritable. */
  data[0].inheritable = (unsigned)amb;
  data[1].inheritable = (unsigned)(amb >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) fail("capset");
  for (int c = 0; c < 64; c++)
    if ((amb & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) fail("raise ambient capability %s", CAP_NAMES[c]);
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}

/* ---- PID 1 as a reaper (--init) ---- */

static pid_t g_child;
static void forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

__attribute__((noreturn)) static void run_init(pid_t child) {
  g_child = child;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  for (int sig = 1; sig < 32; sig++)
    if (sig != SIGCHLD && sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
  prctl(PR_SET_NAME, "tspod-init", 0, 0, 0);
  for (;;) {
    int st;
    pid_t p = wait(&st);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) _exit(0);
    if (p == child) {
      /* reap what is left quickly, then leave with the child's status */
      while (waitpid(-1, NULL, WNOHANG) > 0) {}
      if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
      _exit(128 + WTERMSIG(st));
    }
  }
}

/* ---- pause=1: a pod's infra process holds the namespaces and waits ---- */

static void on_pause_signal(int sig) {
  (void)sig;
  _exit(0);
}

__attribute__((noreturn)) static void pause_forever(void) {
  close(g_errfd); /* EOF: "started" for the monitor */
  g_errfd = -1;
  prctl(PR_SET_NAME, "tspod-pause", 0, 0, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_pause_signal;
  const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  for (;;) pause();
}

/* Loopback is up in every new network namespace. */
static void loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket for loopback");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) fail("get lo flags");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) fail("bring lo up");
  close(fd);
}

/* ---- the child ---- */

struct child_args {
  const struct spec *s;
  int sync_fd;
  int start_fd;
  int err_fd;
  int stdio[3];
  int rootless;
  int gid5_mapped;
};

__attribute__((noreturn)) static void child_main(struct child_args *a) {
  const struct spec *s = a->s;
  g_errfd = a->err_fd;
  for (int i = 0; i < 3; i++)
    if (a->stdio[i] >= 0 && a->stdio[i] != i && dup2(a->stdio[i], i) < 0) fail("dup2 stdio");
  if (s->ns_user || s->ncgroups) {
    /* wait until the parent has mapped our user namespace and put us in our cgroups */
    char c;
    if (read(a->sync_fd, &c, 1) != 1 || c != 'g') {
      errno = EPERM;
      fail(s->ns_user ? "user namespace id map" : "cgroup setup");
    }
  }
  if (s->ns_user && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) fail("become root in the user namespace");
  int lending = lend_what(s);
  /* (a terminal is made in setup_dev and its master sent this way too) */
  if (!lending && !s->tty) close(a->sync_fd);
  if (setsid() < 0) fail("setsid");
  if (s->ns_net && !s->netns) loopback_up();
  /* namespaced sysctls, before /proc/sys is made read-only (still the host's /proc,
     but /proc/sys/net shows this process's network namespace) */
  for (int i = 0; i < s->nsysctls; i++) {
    char path[256], key[200];
    const char *eq = strchr(s->sysctls[i], '=');
    if (!eq || (size_t)(eq - s->sysctls[i]) >= sizeof key) {
      errno = EINVAL;
      fail("sysctl %s", s->sysctls[i]);
    }
    snprintf(key, sizeof key, "%.*s", (int)(eq - s->sysctls[i]), s->sysctls[i]);
    for (char *k = key; *k; k++)
      if (*k == '.') *k = '/';
    snprintf(path, sizeof path, "/proc/sys/%s", key);
    int r = write_file(path, eq + 1);
    if (r < 0) {
      errno = -r;
      fail("sysctl %s", s->sysctls[i]);
    }
  }
  if (s->rootfs) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("make mounts private");
    mount_rootfs(s, a->rootless);
    int rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) fail("open rootfs %s", s->rootfs);
    static struct mrec mounts[SPEC_MAX_LIST];
    for (int i = 0; i < s->nmounts; i++) split_mount(s->mounts[i], &mounts[i]);
    /* named volumes' first use: the image's content copied in before anything is mounted in the rootfs */
    for (int i = 0; i < s->nmounts; i++)
      if (mounts[i].n > 4 && mounts[i].f[4][0]) copy_up(rootfd, mounts[i].f[1], mounts[i].f[2], mounts[i].f[4]);
    if (s->ns_pid) mount_at(rootfd, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    else mount_at(rootfd, "/proc", "/proc", NULL, MS_BIND | MS_REC, NULL);
    setup_dev(s, rootfd, a->gid5_mapped, a->sync_fd);
    if (s->ns_net) mount_at(rootfd, "/sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
    else {
      char tgt[64];
      int fd = target_fd(rootfd, "/sys", 0, tgt, sizeof tgt);
      if (mount("/sys", tgt, NULL, MS_BIND | MS_REC, NULL) < 0) fail("bind /sys");
      close(fd);
      /* reopen: the old fd names the directory under the new mount, not the mount */
      fd = target_fd(rootfd, "/sys", 0, tgt, sizeof tgt);
      remount_ro(tgt, 0);
      close(fd);
    }
    for (int i = 0; i < s->nmounts; i++) user_mount(rootfd, &mounts[i]);
    for (int i = 0; i < s->nmounts; i++) user_mount_ro(rootfd, &mounts[i]);
    /* pivot_root(".", ".") then detach the old root stacked on top */
    if (fchdir(rootfd) < 0) fail("chdir rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail("pivot_root %s", s->rootfs);
    if (umount2(".", MNT_DETACH) < 0) fail("detach the old root");
    if (chdir("/") < 0) fail("chdir /");
    close(rootfd);
    for (int i = 0; i < s->nmasked; i++) mask_path(s->masked[i]);
    for (int i = 0; i < s->nropaths; i++) readonly_path(s->ropaths[i]);
    if (s->readonly_rootfs) remount_ro("/", 0);
  } else if (s->pause && s->ns_mnt) {
    /* A pod's infra has no image: its root is an empty read-only tmpfs, not the
       host's tree (an exec into it finds nothing to run, as in Podman's pause
       image; it pins no host directory). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("make mounts private");
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") < 0) fail("mount the infra's empty root");
    if (chdir("/tmp") < 0) fail("chdir to the infra's root");
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail("pivot_root to the infra's empty root");
    if (umount2(".", MNT_DETACH) < 0) fail("detach the old root");
    if (chdir("/") < 0) fail("chdir /");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) fail("make the infra's root read-only");
  }
  if (s->hostname && s->ns_uts && sethostname(s->hostname, strlen(s->hostname)) < 0) fail("sethostname %s", s->hostname);
  for (int i = 0; i < s->nrlimits; i++) {
    struct rlimit rl = {(rlim_t)s->rlimits[i].soft, (rlim_t)s->rlimits[i].hard};
    if (setrlimit(s->rlimits[i].resource, &rl) < 0) fail("setrlimit %d", s->rlimits[i].resource);
  }
  if (s->has_oom_score_adj) {
    char v[16];
    snprintf(v, sizeof v, "%d", s->oom_score_adj);
    write_file("/proc/self/oom_score_adj", v);
  }
  extern char **environ;
  environ = (char **)s->env;
  if (chdir(s->cwd) < 0) {
    if (errno != ENOENT) fail("chdir %s", s->cwd);
    int rfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    mkdirs_in_root(rfd, s->cwd, 0755);
    close(rfd);
    if (chdir(s->cwd) < 0) fail("chdir %s", s->cwd);
  }
  if (s->tty && !s->rootfs) make_console(s, -1, a->sync_fd);
  if (keys_confine(s->seccomp_unconfined) < 0) fail("seccomp filter for the keyrings");
  if (lending) {
    /* published TCP ports, a network started at the first socket (lend.c): the
       Landlock domain and the filter, while this process still may (root of its
       user namespace); the filter's fd to the monitor before exec closes it */
    int nfd = lend_install(lending);
    if (nfd < 0) fail("seccomp filter for the network");
    if (lend_send_fd(a->sync_fd, "n", 1, nfd) < 0) fail("hand the network's filter to the monitor");
    close(nfd);
    close(a->sync_fd);
  } else if (s->tty) close(a->sync_fd);
  ctr_set_creds(s);
  if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs");
  if (a->start_fd >= 0) {
    char c;
    ssize_t n;
    do n = read(a->start_fd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) _exit(125); /* the monitor went away before start */
    close(a->start_fd);
  }
  if (s->pause) pause_forever();
  if (s->init) {
    pid_t p = fork();
    if (p < 0) fail("fork the init's child");
    if (p > 0) {
      close(g_errfd);
      run_init(p);
    }
    if (!s->tty) setsid();
    else {
      /* As tini and catatonit: the child gets a process group of its own in the
         init's session and is made the terminal's foreground, so the terminal
         stays its controlling one (a shell there has job control; Ctrl-C goes
         to it). A session of its own could not have it: the terminal is the
         init's session's. SIGTTOU is held while a background group takes it. */
      sigset_t tt, old;
      sigemptyset(&tt);
      sigaddset(&tt, SIGTTOU);
      if (setpgid(0, 0) < 0) fail("a process group for the init's child");
      sigprocmask(SIG_BLOCK, &tt, &old);
      if (tcsetpgrp(0, getpid()) < 0) fail("give the terminal to the init's child");
      sigprocmask(SIG_SETMASK, &old, NULL);
    }
  }
  execvp(s->args[0], s->args);
  fail("exec %s", s->args[0]);
}

/* The kept user namespace is joined rather than a new one made (not when another container's is). */
static int kept_userns(const struct spec *s) { return s->ns_user && !s->userns && s->userns_keep && s->uidmap && s->gidmap; }

/*
 * Joining another container's network namespace (container:ID, pods), or
 * rootless the kept user namespace (userns.keep): an intermediate process
 * enters the namespaces to join (rootless: that container's user namespace
 * first, which owns its network namespace and in which our user has every
 * capability; else the kept one), then clones the container's process into
 * the new ones and exits. The process is reparented to the caller, a
 * subreaper. Returns its pid, or -1 with err filled.
 */
static pid_t spawn_joined(const struct spec *s, unsigned long flags, struct child_args *a, int sync_parent, int err_read,
                          char *err, size_t errlen) {
  int pp[2];
  if (pipe2(pp, O_CLOEXEC) < 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  pid_t mid = fork();
  if (mid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    close(pp[0]), close(pp[1]);
    return -1;
  }
  if (mid == 0) {
    close(pp[0]);
    close(sync_parent);
    close(err_read);
    g_errfd = a->err_fd;
    if (s->userns) {
      int fd = open(s->userns, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWUSER) < 0) fail("join user namespace %s", s->userns);
      close(fd);
    } else if (kept_userns(s)) {
      char msg[512] = "", what[600];
      if (enter_kept_userns(s->uidmap, s->gidmap, s->userns_keep, msg, sizeof msg) < 0) {
        snprintf(what, sizeof what, "user namespace id map: %s", msg[0] ? msg : "newuidmap/newgidmap failed");
        fail_plain(EPERM, what);
      }
    }
    if (s->netns) {
      int fd = open(s->netns, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) fail("join network namespace %s", s->netns);
      close(fd);
    }
    unsigned long f = flags & ~(unsigned long)CLONE_NEWUSER; /* a joined netns is not in flags */
    pid_t pid = (pid_t)syscall(SYS_clone, f, NULL, NULL, NULL, NULL);
    if (pid < 0) fail("clone (namespaces 0x%lx)", f);
    if (pid == 0) {
      close(pp[1]);
      child_main(a);
    }
    write_all(pp[1], &pid, sizeof pid);
    _exit(0);
  }
  close(pp[1]);
  pid_t pid = -1;
  ssize_t n;
  do n = read(pp[0], &pid, sizeof pid);
  while (n < 0 && errno == EINTR);
  close(pp[0]);
  int st;
  while (waitpid(mid, &st, 0) < 0 && errno == EINTR) {}
  if (n != (ssize_t)sizeof pid || pid <= 0) {
    /* the intermediate failed: its reason is in the error pipe (our write end is still open: close it first) */
    close(a->err_fd);
    a->err_fd = -1;
    char msg[900] = "";
    int e = ctr_read_start_error(err_read, msg, sizeof msg);
    snprintf(err, errlen, "%s", msg[0] ? msg : "joining the namespaces failed");
    errno = e ? e : EIO;
    return -1;
  }
  return pid;
}

pid_t ctr_spawn(const struct spec *s, int stdin_fd, int stdout_fd, int stderr_fd, int start_fd, int *exec_err_fd, char *err, size_t errlen) {
  int sync[2], errp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
    snprintf(err, errlen, "socketpair/pipe: %s", strerror(errno));
    return -1;
  }
  unsigned long flags = SIGCHLD;
  if (s->ns_user) flags |= CLONE_NEWUSER;
  if (s->ns_mnt || s->rootfs) flags |= CLONE_NEWNS;
  if (s->ns_pid) flags |= CLONE_NEWPID;
  if (s->ns_uts) flags |= CLONE_NEWUTS;
  if (s->ns_ipc) flags |= CLONE_NEWIPC;
  if (s->ns_net && !s->netns) flags |= CLONE_NEWNET;
  if (s->ns_cgroup) flags |= CLONE_NEWCGROUP;
  int rootless = getuid() != 0;
  struct child_args a = {s, sync[1], start_fd, errp[1], {stdin_fd, stdout_fd, stderr_fd}, rootless, 0};
  /* gid 5 (tty) exists in the container when the gid map covers it */
  a.gid5_mapped = !s->ns_user || (s->gidmap && strchr(s->gidmap, ','));
  pid_t pid;
  if (s->userns || s->netns || kept_userns(s)) {
    pid = spawn_joined(s, flags, &a, sync[0], errp[0], err, errlen);
    if (pid < 0) {
      int e = errno;
      close(sync[0]), close(sync[1]), close(errp[0]); /* errp[1] is closed already */
      errno = e;
      return -1;
    }
  } else {
    pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0) {
      snprintf(err, errlen, "clone (namespaces 0x%lx): %s", flags, strerror(errno));
      close(sync[0]), close(sync[1]), close(errp[0]), close(errp[1]);
      return -1;
    }
    if (pid == 0) {
      close(sync[0]);
      close(errp[0]);
      child_main(&a);
    }
  }
  close(sync[1]);
  close(errp[1]);
  if (ctr_keep_ns) {
    /* the process waits for us (rootless: its id map) or is root's: it still is dumpable */
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/ns/net", (int)pid);
    ctr_netns_fd = open(p, O_RDONLY | O_CLOEXEC);
    snprintf(p, sizeof p, "/proc/%d/ns/user", (int)pid);
    ctr_userns_fd = open(p, O_RDONLY | O_CLOEXEC);
  }
  if (ctr_after_clone) ctr_after_clone(pid);
  if (s->ns_user && !s->userns && !kept_userns(s)) {
    int r;
    if (s->uidmap && s->gidmap) {
      r = map_ids(pid, s->uidmap, s->gidmap, err, errlen);
    } else {
      r = write_single_maps(pid, getuid(), getgid());
      if (r < 0) snprintf(err, errlen, "write id map: %s", strerror(-r));
    }
    if (r < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      close(sync[0]), close(errp[0]);
      return -1;
    }
  }
  for (int i = 0; i < s->ncgroups; i++) {
    char pidbuf[16];
    snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
    int r = write_file(s->cgroups[i], pidbuf);
    if (r < 0) {
      snprintf(err, errlen, "join cgroup %s: %s", s->cgroups[i], strerror(-r));
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      close(sync[0]), close(errp[0]);
      return -1;
    }
  }
  if (s->ns_user || s->ncgroups) write_all(sync[0], "g", 1);
  /* the terminal's master and the network filter's fd (lend.c) come this way */
  if (lend_what(s) || s->tty) ctr_lend_fd = sync[0];
  else close(sync[0]);
  *exec_err_fd = errp[0];
  return pid;
}
