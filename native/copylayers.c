/*
 * `tspod-rt copy-layers [--uidmap SPEC --gidmap SPEC [--keep-userns FILE]] DEST LAYER...`: the
 * "vfs" storage driver. Merges unpacked layer dirs (bottom-most first) into
 * the directory DEST the way kernel overlayfs would show them:
 *  - a char device 0:0 is a whiteout: what DEST has at that name goes
 *    (recursively) and nothing is copied;
 *  - a directory with user.overlay.opaque=y (or trusted.overlay.opaque=y)
 *    first loses whatever DEST already has inside it;
 *  - a directory over a directory merges and takes the upper one's owner,
 *    mode, xattrs and times; any other pairing replaces the lower entry;
 *  - files keep owner, mode (setuid/setgid/sticky), times and xattrs
 *    (overlay's own `*.overlay.*` xattrs are never copied); hard links
 *    within one layer stay hard links.
 *
 * Where it runs: like unpack/rmtree, inside a user namespace with the same
 * id map the layers were unpacked with (run_in_userns), so owners read from
 * the layers are written back unchanged; as real root without maps in a
 * plain child.
 *
 * Confinement: both trees are walked with directory fds opened here, one
 * name at a time, never following a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW,
 * *at() creation calls that do not follow their last component); a DEST
 * directory is only entered after it was made or found to be a real
 * directory, so a lower layer's `a -> /etc` is replaced, never written
 * through. Neither walk descends into another filesystem mounted inside.
 *
 * Prints one JSON line `{"files":N,"bytes":B,"skipped":S}`: N entries
 * written (a directory counts when created), B bytes of file data copied,
 * S things left out (device nodes refused in a user namespace, xattrs or
 * owners that could not be set, mount points not descended into). On error:
 * one line `tspod-rt: copy-layers: PATH: what: strerror`, exit 1.
 */
#include "common.h"
#include "idmap.h"
#include "kernel.h"
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define CBUF (256u << 10) /* read/write fallback buffer */
#define DENTS (32u << 10) /* getdents64 buffer per directory level */
#define XLIST (64u << 10) /* xattr name list / value buffer */

enum { SRC, DST };

static int real_root;
static int noatime = O_NOATIME;
static int cfr_ok = 1; /* copy_file_range still worth trying */
static char *cbuf;     /* read/write fallback buffer, allocated on first use */
static char *xnames, *xval;
static const char *cur_layer, *dest_arg;
static int destroot = -1;
static dev_t dest_dev;

static struct {
  unsigned long long files, bytes, skipped;
} cnt;

/* ---------- the relative path of the entry at hand (same in a layer and in DEST) ---------- */

static struct relpath rp;

/* ---------- errors ---------- */

static void put_clean(int fd, const char *s) {
  char b[1024];
  size_t i = 0;
  for (; s && *s && i + 1 < sizeof b; s++) b[i++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
  b[i] = 0;
  dprintf(fd, "%s", b);
}

/* `tspod-rt: copy-layers: <layer or DEST>/<rel>: what: strerror`, exit 1. */
__attribute__((noreturn)) static void fail(int side, const char *what, int err) {
  dprintf(2, "tspod-rt: copy-layers: ");
  put_clean(2, side == SRC ? cur_layer : dest_arg);
  if (rp.len) {
    dprintf(2, "/");
    put_clean(2, rp.s);
  }
  if (err) dprintf(2, ": %s: %s\n", what, strerror(err));
  else dprintf(2, ": %s\n", what);
  _exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) fail(DST, "out of memory", ENOMEM);
  return p;
}

/* ---------- directory reading ---------- */

struct dent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* getdents64 buffers, one per directory level being read, kept for reuse (no malloc per directory). */
static char **dents_pool;
static size_t dents_depth, dents_cap;

static char *dents_get(void) {
  if (dents_depth == dents_cap) {
    size_t ncap = dents_cap ? dents_cap * 2 : 64;
    char **n = realloc(dents_pool, ncap * sizeof *n);
    if (!n) fail(DST, "out of memory", ENOMEM);
    memset(n + dents_cap, 0, (ncap - dents_cap) * sizeof *n);
    dents_pool = n;
    dents_cap = ncap;
  }
  if (!dents_pool[dents_depth]) dents_pool[dents_depth] = xmalloc(DENTS);
  return dents_pool[dents_depth++];
}

static void dents_put(void) { dents_depth--; }

static int is_dot(const char *n) { return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])); }

/* ---------- removal inside DEST ---------- */

static void rm_at(int parent, const char *name);

/* Empty the directory fd (never leaving its filesystem). */
static void clear_dir(int fd) {
  char *buf = dents_get();
  for (;;) {
    if (lseek(fd, 0, SEEK_SET) < 0) fail(DST, "rewind directory", errno);
    long n = syscall(SYS_getdents64, fd, buf, DENTS);
    if (n < 0) fail(DST, "read directory", errno);
    int any = 0;
    for (long off = 0; off < n;) {
      struct dent64 *d = (struct dent64 *)(buf + off);
      off += d->d_reclen;
      if (is_dot(d->d_name)) continue;
      any = 1;
      size_t old = relpath_push(&rp, d->d_name);
      rm_at(fd, d->d_name);
      relpath_pop(&rp, old);
    }
    if (!any) break;
  }
  dents_put();
}

/* Remove what DEST has at parent/name, recursively; nothing there is fine. */
static void rm_at(int parent, const char *name) {
  if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR && errno != EPERM) fail(DST, "remove", errno);
  struct stat st;
  if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) fail(DST, "stat", errno);
  if (!S_ISDIR(st.st_mode)) fail(DST, "remove", EPERM);
  if (st.st_dev != dest_dev) fail(DST, "remove: a mount point", EXDEV);
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail(DST, "open directory", errno);
  clear_dir(fd);
  close(fd);
  if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT) fail(DST, "remove directory", errno);
}

/* ---------- metadata ---------- */

static int overlay_xattr(const char *n) { return !strncmp(n, "user.overlay.", 13) || !strncmp(n, "trusted.overlay.", 16); }

/*
 * Copy xattrs from the source (fd sfd >= 0, else the path spath) to the
 * target (fd dfd >= 0, else dpath), leaving overlay's own out. Returns 1 when
 * the source is an opaque directory. Failures to set are counted.
 */
static int copy_xattrs(int sfd, const char *spath, int dfd, const char *dpath, int want_opaque) {
  ssize_t len = sfd >= 0 ? flistxattr(sfd, xnames, XLIST) : llistxattr(spath, xnames, XLIST);
  if (len <= 0) {
    if (len < 0 && errno == ERANGE) cnt.skipped++;
    return 0;
  }
  int opaque = 0;
  for (char *n = xnames; n < xnames + len; n += strlen(n) + 1) {
    if (!*n) continue;
    int ov = overlay_xattr(n);
    if (ov && !(want_opaque && (!strcmp(n, "user.overlay.opaque") || !strcmp(n, "trusted.overlay.opaque")))) continue;
    ssize_t vl = sfd >= 0 ? fgetxattr(sfd, n, xval, XLIST) : lgetxattr(spath, n, xval, XLIST);
    if (vl < 0) {
      if (errno != ENODATA) cnt.skipped++;
      continue;
    }
    if (ov) {
      if (vl == 1 && xval[0] == 'y') opaque = 1;
      continue;
    }
    if (dfd < 0 && !dpath) continue;
    int r = dfd >= 0 ? fsetxattr(dfd, n, xval, (size_t)vl, 0) : lsetxattr(dpath, n, xval, (size_t)vl, 0);
    if (r < 0) cnt.skipped++;
  }
  return opaque;
}

/* chown failures that mean "this id is not representable here" are counted, others fatal. */
static void chown_failed(int e) {
  if (e == EINVAL || (e == EPERM && !real_root)) cnt.skipped++;
  else fail(DST, "chown", e);
}

/* ---------- hard links (per layer: source inode -> first DEST path) ---------- */

struct hl {
  dev_t dev;
  ino_t ino;
  char *path; /* NULL: empty slot */
};
static struct hl *hls;
static size_t hl_cap, hl_n;

static size_t hl_hash(dev_t dev, ino_t ino) {
  uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev;
  return (size_t)(h ^ (h >> 29));
}

static struct hl *hl_find(dev_t dev, ino_t ino) {
  if (!hl_cap) return NULL;
  for (size_t i = hl_hash(dev, ino) & (hl_cap - 1);; i = (i + 1) & (hl_cap - 1)) {
    if (!hls[i].path) return NULL;
    if (hls[i].dev == dev && hls[i].ino == ino) return &hls[i];
  }
}

static void hl_add(dev_t dev, ino_t ino, const char *path) {
  if ((hl_n + 1) * 2 > hl_cap) {
    size_t ncap = hl_cap ? hl_cap * 2 : 256;
    struct hl *n = calloc(ncap, sizeof *n);
    if (!n) fail(DST, "out of memory", ENOMEM);
    for (size_t i = 0; i < hl_cap; i++) {
      if (!hls[i].path) continue;
      size_t j = hl_hash(hls[i].dev, hls[i].ino) & (ncap - 1);
      while (n[j].path) j = (j + 1) & (ncap - 1);
      n[j] = hls[i];
    }
    free(hls);
    hls = n;
    hl_cap = ncap;
  }
  size_t i = hl_hash(dev, ino) & (hl_cap - 1);
  while (hls[i].path) i = (i + 1) & (hl_cap - 1);
  hls[i].dev = dev;
  hls[i].ino = ino;
  hls[i].path = strdup(path);
  if (!hls[i].path) fail(DST, "out of memory", ENOMEM);
  hl_n++;
}

static void hl_reset(void) {
  for (size_t i = 0; i < hl_cap; i++) free(hls[i].path);
  free(hls);
  hls = NULL;
  hl_cap = hl_n = 0;
}

/* Open DEST's directory `dir` (relative to DEST) without following any symlink or leaving DEST. */
static int open_beneath(const char *dir) {
  if (!*dir) return dup(destroot);
  struct kernel_open_how how = {O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                                TSPOD_RESOLVE_BENEATH | TSPOD_RESOLVE_NO_SYMLINKS | TSPOD_RESOLVE_NO_MAGICLINKS |
                                    TSPOD_RESOLVE_NO_XDEV};
  int fd = (int)syscall(SYS_openat2, destroot, dir, &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return fd;
  /* no openat2: one component at a time */
  char *copy = strdup(dir);
  if (!copy) return -1;
  fd = dup(destroot);
  for (char *save = NULL, *c = strtok_r(copy, "/", &save); c && fd >= 0; c = strtok_r(NULL, "/", &save)) {
    int n = is_dot(c) ? -1 : openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (n < 0 && is_dot(c)) errno = EINVAL;
    close(fd);
    fd = n;
  }
  free(copy);
  return fd;
}

/* Hard-link dfd/name to the DEST path first; 0 on success, -1 to copy instead. */
static int link_from(const char *first, int dfd, const char *name) {
  const char *slash = strrchr(first, '/');
  char *dir = slash ? strndup(first, (size_t)(slash - first)) : strdup("");
  if (!dir) fail(DST, "out of memory", ENOMEM);
  int pfd = open_beneath(dir);
  free(dir);
  if (pfd < 0) return -1;
  const char *base = slash ? slash + 1 : first;
  int r = linkat(pfd, base, dfd, name, 0);
  if (r < 0 && errno == EEXIST) {
    rm_at(dfd, name);
    r = linkat(pfd, base, dfd, name, 0);
  }
  int e = errno;
  close(pfd);
  if (r < 0 && e != ENOENT && e != EPERM && e != EMLINK && e != EXDEV) fail(DST, "hard link", e);
  return r < 0 ? -1 : 0;
}

/* ---------- file data ---------- */

static unsigned long long copy_range(int s, int d, off_t off, off_t len) {
  off_t so = off, dof = off;
  unsigned long long done = 0;
  int use_cfr = cfr_ok;
  while (len > 0) {
    size_t chunk = len > (1 << 30) ? (1u << 30) : (size_t)len;
    if (use_cfr) {
      ssize_t n = copy_file_range(s, &so, d, &dof, chunk, 0);
      if (n > 0) {
        len -= n, done += (size_t)n;
        continue;
      }
      if (n == 0) break; /* end of the source */
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP) cfr_ok = 0;
      else if (errno != EINVAL && errno != EPERM && errno != EBADF && errno != ETXTBSY) fail(DST, "copy data", errno);
      use_cfr = 0;
    }
    if (!cbuf) cbuf = xmalloc(CBUF);
    ssize_t r = pread(s, cbuf, chunk > CBUF ? CBUF : chunk, so);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(SRC, "read", errno);
    }
    if (r == 0) break;
    for (ssize_t w = 0; w < r;) {
      ssize_t k = pwrite(d, cbuf + w, (size_t)(r - w), dof);
      if (k < 0) {
        if (errno == EINTR) continue;
        fail(DST, "write", errno);
      }
      w += k, dof += k;
    }
    so += r, len -= r, done += (size_t)r;
  }
  return done;
}

static unsigned long long copy_data(int s, int d, const struct stat *st) {
  if (st->st_size == 0) return 0;
  /* fewer blocks than bytes: copy only the data, keep the holes */
  if ((off_t)st->st_blocks * 512 >= st->st_size || st->st_size < (64 << 10)) return copy_range(s, d, 0, st->st_size);
  unsigned long long done = 0;
  for (off_t pos = 0; pos < st->st_size;) {
    off_t data = lseek(s, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break; /* only a hole left */
      done += copy_range(s, d, pos, st->st_size - pos);
      break;
    }
    off_t hole = lseek(s, data, SEEK_HOLE);
    if (hole < 0 || hole > st->st_size) hole = st->st_size;
    done += copy_range(s, d, data, hole - data);
    pos = hole;
  }
  if (ftruncate(d, st->st_size) < 0) fail(DST, "truncate", errno);
  return done;
}

/* ---------- entries ---------- */

/* What the directory we create into hands a new entry as its group (setgid dirs pass theirs on). */
struct dirinfo {
  int sfd, dfd;
  dev_t sdev;
  long long new_gid; /* -1: unknown, always chown */
};

static void copy_dir(struct dirinfo *di);

static void times_of(const struct stat *st, struct timespec ts[2]) {
  ts[0] = st->st_atim;
  ts[1] = st->st_mtim;
}

static void do_file(struct dirinfo *di, const char *name, const struct stat *st) {
  if (st->st_nlink > 1) {
    struct hl *h = hl_find(st->st_dev, st->st_ino);
    if (h && link_from(h->path, di->dfd, name) == 0) {
      cnt.files++;
      return;
    }
  }
  int s = openat(di->sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | noatime);
  if (s < 0 && errno == EPERM && noatime) {
    noatime = 0;
    s = openat(di->sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (s < 0) fail(SRC, "open", errno);
  int d = openat(di->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 0777);
  if (d < 0 && errno == EEXIST) {
    rm_at(di->dfd, name);
    d = openat(di->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 0777);
  }
  if (d < 0) fail(DST, "create", errno);
  cnt.bytes += copy_data(s, d, st);
  if (st->st_uid != 0 || (long long)st->st_gid != di->new_gid) {
    if (fchown(d, st->st_uid, st->st_gid) < 0) chown_failed(errno);
  }
  if ((st->st_mode & 07000) && fchmod(d, st->st_mode & 07777) < 0) fail(DST, "chmod", errno);
  copy_xattrs(s, NULL, d, NULL, 0); /* after chown, which drops security.capability */
  struct timespec ts[2];
  times_of(st, ts);
  if (futimens(d, ts) < 0) fail(DST, "set times", errno);
  if (close(d) < 0) fail(DST, "close", errno);
  close(s);
  cnt.files++;
  if (st->st_nlink > 1) {
    struct hl *h = hl_find(st->st_dev, st->st_ino);
    if (!h) hl_add(st->st_dev, st->st_ino, rp.s);
    else { /* the first copy could not be linked to: later links use this one */
      char *np = strdup(rp.s);
      if (!np) fail(DST, "out of memory", ENOMEM);
      free(h->path);
      h->path = np;
    }
  }
}

/* Owner, mode, xattrs and times of a symlink or node, addressed by name in di->dfd. */
static void named_meta(struct dirinfo *di, const char *name, const struct stat *st, int is_link) {
  if (st->st_uid != 0 || (long long)st->st_gid != di->new_gid) {
    if (fchownat(di->dfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0) chown_failed(errno);
  }
  /* a node we just made: no symlink to follow here */
  if (!is_link && (st->st_mode & 07000) && fchmodat(di->dfd, name, st->st_mode & 07777, 0) < 0)
    fail(DST, "chmod", errno);
  char sp[300], dp[300];
  if (strlen(name) < 256) {
    snprintf(sp, sizeof sp, "/proc/self/fd/%d/%s", di->sfd, name);
    snprintf(dp, sizeof dp, "/proc/self/fd/%d/%s", di->dfd, name);
    copy_xattrs(-1, sp, -1, dp, 0);
  }
  struct timespec ts[2];
  times_of(st, ts);
  if (utimensat(di->dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) fail(DST, "set times", errno);
}

static void do_symlink(struct dirinfo *di, const char *name, const struct stat *st) {
  char tgt[4097];
  ssize_t n = readlinkat(di->sfd, name, tgt, sizeof tgt - 1);
  if (n < 0) fail(SRC, "read symlink", errno);
  tgt[n] = 0;
  int r = symlinkat(tgt, di->dfd, name);
  if (r < 0 && errno == EEXIST) {
    rm_at(di->dfd, name);
    r = symlinkat(tgt, di->dfd, name);
  }
  if (r < 0) fail(DST, "symlink", errno);
  named_meta(di, name, st, 1);
  cnt.files++;
}

static void do_node(struct dirinfo *di, const char *name, const struct stat *st) {
  mode_t m = (st->st_mode & S_IFMT) | (st->st_mode & 0777);
  int r = mknodat(di->dfd, name, m, st->st_rdev);
  if (r < 0 && errno == EEXIST) {
    rm_at(di->dfd, name);
    r = mknodat(di->dfd, name, m, st->st_rdev);
  }
  if (r < 0) {
    if (errno == EPERM && (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))) {
      cnt.skipped++; /* devices cannot be made in a user namespace */
      return;
    }
    fail(DST, "mknod", errno);
  }
  named_meta(di, name, st, 0);
  cnt.files++;
}

/*
 * A directory: the layer's dir sfd (already open, or -1 for a mount point we
 * do not enter) onto DEST's dir dfd (already made or found). created: dfd is
 * new, nothing to clear. Applies owner/mode/xattrs, the content, then times.
 */
static void dir_body(int sfd, int dfd, const struct stat *st, int created, dev_t sdev) {
  int opaque = 0;
  long long new_gid = 0;
  if (fchown(dfd, st->st_uid, st->st_gid) < 0) {
    chown_failed(errno);
    new_gid = -1;
  }
  if (fchmod(dfd, st->st_mode & 07777) < 0) fail(DST, "chmod", errno);
  if (sfd >= 0) opaque = copy_xattrs(sfd, NULL, dfd, NULL, 1);
  if (new_gid == 0) new_gid = (st->st_mode & S_ISGID) ? (long long)st->st_gid : 0;
  if (opaque && !created) clear_dir(dfd);
  if (sfd >= 0) {
    struct dirinfo di = {sfd, dfd, sdev, new_gid};
    copy_dir(&di);
  } else {
    cnt.skipped++;
  }
  struct timespec ts[2];
  times_of(st, ts);
  if (futimens(dfd, ts) < 0) fail(DST, "set times", errno);
}

static void do_dir(struct dirinfo *di, const char *name, const struct stat *st) {
  int created = 1;
  if (mkdirat(di->dfd, name, 0700) < 0) {
    if (errno != EEXIST) fail(DST, "mkdir", errno);
    struct stat dst;
    if (fstatat(di->dfd, name, &dst, AT_SYMLINK_NOFOLLOW) < 0) fail(DST, "stat", errno);
    if (S_ISDIR(dst.st_mode)) {
      if (dst.st_dev != dest_dev) fail(DST, "a mount point", EXDEV);
      created = 0;
    } else {
      rm_at(di->dfd, name); /* a file or symlink below: replaced, never followed */
      if (mkdirat(di->dfd, name, 0700) < 0) fail(DST, "mkdir", errno);
    }
  }
  int dfd = openat(di->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) fail(DST, "open directory", errno);
  int sfd = -1;
  if (st->st_dev == di->sdev) {
    sfd = openat(di->sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0) fail(SRC, "open directory", errno);
  }
  dir_body(sfd, dfd, st, created, di->sdev);
  if (sfd >= 0) close(sfd);
  close(dfd);
  if (created) cnt.files++;
}

static void copy_dir(struct dirinfo *di) {
  char *buf = dents_get();
  for (;;) {
    long n = syscall(SYS_getdents64, di->sfd, buf, DENTS);
    if (n < 0) fail(SRC, "read directory", errno);
    if (n == 0) break;
    for (long off = 0; off < n;) {
      struct dent64 *d = (struct dent64 *)(buf + off);
      off += d->d_reclen;
      if (is_dot(d->d_name)) continue;
      size_t old = relpath_push(&rp, d->d_name);
      struct stat st;
      if (fstatat(di->sfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) fail(SRC, "stat", errno);
      switch (st.st_mode & S_IFMT) {
      case S_IFDIR: do_dir(di, d->d_name, &st); break;
      case S_IFREG: do_file(di, d->d_name, &st); break;
      case S_IFLNK: do_symlink(di, d->d_name, &st); break;
      case S_IFCHR:
        if (st.st_rdev == makedev(0, 0)) {
          rm_at(di->dfd, d->d_name); /* whiteout */
          break;
        }
        do_node(di, d->d_name, &st);
        break;
      default: do_node(di, d->d_name, &st); break;
      }
      relpath_pop(&rp, old);
    }
  }
  dents_put();
}

/* ---------- a volume's copy-up (container.c) ---------- */

/* Copy the tree under the directory sfd into the directory dfd (src and dest
   name them in messages) the way the command copies one layer: owners, modes,
   times, xattrs, hard links, never following a symlink. In this process: the
   caller runs it in a child of its own, as a failure prints one line on
   stderr and exits 1. */
void copy_tree_into(int sfd, const char *src, int dfd, const char *dest) {
  xnames = xmalloc(XLIST);
  xval = xmalloc(XLIST);
  dest_arg = dest;
  cur_layer = src;
  destroot = dfd;
  struct stat st, dst;
  if (fstat(destroot, &dst) < 0) fail(DST, "stat", errno);
  dest_dev = dst.st_dev;
  if (fstat(sfd, &st) < 0) fail(SRC, "stat", errno);
  /* the volume's top takes the image directory's owner, mode and times */
  dir_body(sfd, destroot, &st, 0, st.st_dev);
}

/* Empty the directory dfd (a copy that failed half-way), the same way: in a child. */
void clear_tree(int dfd, const char *dest) {
  dest_arg = dest;
  struct stat st;
  if (fstat(dfd, &st) < 0) fail(DST, "stat", errno);
  dest_dev = st.st_dev;
  clear_dir(dfd);
}

/* ---------- the command ---------- */

struct cl_args {
  const char *dest;
  int n;
  char **layers;
};

static int do_copy(void *p) {
  struct cl_args *a = p;
  umask(0);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  xnames = xmalloc(XLIST);
  xval = xmalloc(XLIST);
  dest_arg = a->dest;
  cur_layer = a->dest;
  destroot = open(a->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (destroot < 0) fail(DST, "open", errno);
  struct stat dst;
  if (fstat(destroot, &dst) < 0) fail(DST, "stat", errno);
  dest_dev = dst.st_dev;
  for (int i = 0; i < a->n; i++) {
    cur_layer = a->layers[i];
    int sfd = open(cur_layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0) fail(SRC, "open layer", errno);
    struct stat st;
    if (fstat(sfd, &st) < 0) fail(SRC, "stat", errno);
    /* the merged root takes the upper-most layer's owner, mode and times, like overlay */
    dir_body(sfd, destroot, &st, 0, st.st_dev);
    close(sfd);
    hl_reset();
  }
  printf("{\"files\":%llu,\"bytes\":%llu,\"skipped\":%llu}\n", cnt.files, cnt.bytes, cnt.skipped);
  if (fflush(stdout) != 0) {
    relpath_pop(&rp, 0);
    fail(DST, "write result", errno);
  }
  return 0;
}

int cmd_copy_layers(int argc, char **argv) {
  struct map_flags m = {0};
  int i = 1;
  for (; i < argc; i++) {
    if (take_map_flag(argc, argv, &i, &m)) continue;
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else break;
  }
  errno = 0;
  if (i >= argc || argv[i][0] == '-' || !m.uidmap != !m.gidmap)
    die(125, "usage: tspod-rt copy-layers [--uidmap SPEC --gidmap SPEC [--keep-userns FILE]] DEST LAYER...");
  struct cl_args a = {argv[i], argc - i - 1, argv + i + 1};
  real_root = getuid() == 0 && !m.uidmap;
  char err[512] = "";
  int rc = run_in_userns(m.uidmap, m.gidmap, m.keep, do_copy, &a, err, sizeof err);
  if (rc < 0) {
    errno = 0;
    die(125, "copy-layers: user namespace: %s", err);
  }
  return rc;
}
