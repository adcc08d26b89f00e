/*
 * `tspod-rt diff-tar [--uidmap SPEC --gidmap SPEC [--keep-userns FILE]] [--gzip FILE] [--lower LAYER]... DIR`:
 * the changes of a container's root filesystem as a layer tar (what commit
 * stores): on stdout, with a summary line on stderr; or, with --gzip, gzipped
 * into FILE (made new, fsynced), with the summary on stdout:
 * {"entries":N,"tar_bytes":T,"diff_id":"sha256:...","digest":"sha256:...","size":S}
 * (the digests of the tar and of the file). Entries in byte order of their
 * names, so the same tree gives the same tar (and the same gzip).
 *
 * Without --lower, DIR is an overlay upper directory (kernel overlayfs or
 * fuse-overlayfs): every entry in it is a change.
 *  - a char device 0:0 is a whiteout: written as `.wh.NAME`;
 *  - a directory with user.overlay.opaque=y (trusted.overlay.opaque=y as
 *    real root, user.fuseoverlayfs.opaque=y) is followed by `DIR/.wh..wh..opq`;
 *  - `.wh.*` files (fuse-overlayfs without whiteout devices) are already
 *    what a tar says and go as they are.
 *
 * With --lower (top-most first), DIR is a whole tree (the vfs driver's copy)
 * and is compared with what those layers show together (their whiteouts and
 * opaque directories applied, as overlayfs would): an entry is written when
 * it is new or its type, mode, owner, size, modification time, link target or
 * device differs (a directory: mode, owner or time); a name the layers show
 * that DIR no longer has becomes a whiteout. A file whose bytes changed with
 * its size and time kept is not seen (containers/storage's naive diff
 * neither).
 *
 * Both: owners as the user namespace sees them (it runs in the one the
 * container's files were written with, where files of every mapped owner can
 * be read); hard links among the written files stay links; xattrs as PAX
 * SCHILY.xattr records except overlay's own and system.* / security.selinux
 * (host-specific); sockets and other filesystems mounted inside are left out.
 * A file that changes while it is read (a running container) is cut or
 * padded with zeros to the size its header gave. Nothing is followed: names
 * are opened relative to their directory's fd with O_NOFOLLOW.
 *
 * On error: `tspod-rt: diff-tar: PATH: what: strerror`, exit 1.
 */
#include "common.h"
#include "idmap.h"
#include "sha256.h"
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <zlib.h>
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define OBUF (256u << 10)
#define MAXLOWER 256

static int nlower;
static const char *lower_arg[MAXLOWER];
static const char *top_arg;

/* ---------- the path at hand ---------- */

static struct relpath rp;

__attribute__((noreturn)) static void fail(const char *what, int err) {
  dprintf(2, "tspod-rt: diff-tar: %s%s%s: %s%s%s\n", top_arg, rp.len ? "/" : "", rp.len ? rp.s : "", what, err ? ": " : "", err ? strerror(err) : "");
  _exit(1);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) fail("out of memory", ENOMEM);
  return q;
}

/* ---------- output ---------- */

/*
 * The tar goes to stdout as it is, or (--gzip) to FILE compressed the way pigz and
 * Go's pgzip do it: 128 KiB blocks deflated on worker threads (one per CPU),
 * each primed with the 32 KiB before it (about the ratio of one stream) and
 * ended with a sync flush so that the pieces join into one deflate stream;
 * one gzip member, its CRC combined from the blocks'. The tar's SHA-256 (the
 * layer's diff id) is taken here either way.
 */
static int gz_mode, gz_level = 6;
static struct sha256 tar_sha;
static unsigned long long tar_bytes;

static unsigned char *obuf;
static size_t olen;

static int out_fd = 1;
static const char *gz_path;
static struct sha256 gz_sha;
static unsigned long long gz_bytes;

static void write_out(const void *p, size_t n) {
  const unsigned char *b = p;
  if (gz_mode) sha256_update(&gz_sha, b, n), gz_bytes += n;
  while (n) {
    ssize_t w = write(out_fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die(1, "diff-tar: writing the layer");
    b += w, n -= (size_t)w;
  }
}

static void oflush(void) {
  write_out(obuf, olen);
  olen = 0;
}

#define BLK (128u << 10)
#define DICT (32u << 10)
#define NSLOT 16
#define OUTCAP (BLK + BLK / 8 + 1024) /* above deflate's worst case for a block and its flush */

struct slot {
  unsigned char *in, *out, dict[DICT];
  size_t in_len, out_len, dict_len;
  unsigned long seq;
  int last, state; /* 0 free, 1 sealed, 2 compressing, 3 done */
  uLong crc;
};
static struct slot slots[NSLOT];
static struct slot *cur;
static unsigned long sealed, written; /* blocks handed to the workers, blocks written out */
static int stopping, nworkers;
static pthread_t workers[8];
static pthread_mutex_t gz_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gz_work = PTHREAD_COND_INITIALIZER, gz_done = PTHREAD_COND_INITIALIZER;
static uLong crc_all;
static unsigned long long gz_in;

static void *gz_worker(void *arg) {
  (void)arg;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, gz_level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) die(1, "diff-tar: deflate init");
  pthread_mutex_lock(&gz_mu);
  for (;;) {
    struct slot *s = NULL;
    for (unsigned long q = written; q < sealed && !s; q++)
      if (slots[q % NSLOT].state == 1) s = &slots[q % NSLOT];
    if (!s) {
      if (stopping) break;
      pthread_cond_wait(&gz_work, &gz_mu);
      continue;
    }
    s->state = 2;
    pthread_mutex_unlock(&gz_mu);
    deflateReset(&z);
    if (s->dict_len) deflateSetDictionary(&z, s->dict, (uInt)s->dict_len);
    z.next_in = s->in, z.avail_in = (uInt)s->in_len;
    z.next_out = s->out, z.avail_out = OUTCAP;
    int r = deflate(&z, s->last ? Z_FINISH : Z_SYNC_FLUSH);
    if ((s->last ? r != Z_STREAM_END : r != Z_OK) || z.avail_in) die(1, "diff-tar: deflate: %d", r);
    s->out_len = OUTCAP - z.avail_out;
    s->crc = crc32(0, s->in, (uInt)s->in_len);
    pthread_mutex_lock(&gz_mu);
    s->state = 3;
    pthread_cond_broadcast(&gz_done);
  }
  pthread_mutex_unlock(&gz_mu);
  deflateEnd(&z);
  return NULL;
}

/* Blocks compressed by now, written in order (wait: until the oldest one is). */
static void gz_drain(int wait) {
  pthread_mutex_lock(&gz_mu);
  while (written < sealed) {
    struct slot *s = &slots[written % NSLOT];
    if (s->state != 3) {
      if (!wait) break;
      pthread_cond_wait(&gz_done, &gz_mu);
      continue;
    }
    pthread_mutex_unlock(&gz_mu);
    write_out(s->out, s->out_len);
    crc_all = crc32_combine(crc_all, s->crc, (z_off_t)s->in_len);
    gz_in += s->in_len;
    pthread_mutex_lock(&gz_mu);
    s->state = 0;
    written++;
    wait = 0; /* one written: enough for a caller waiting for room */
  }
  pthread_mutex_unlock(&gz_mu);
}

/* The next block to fill: its slot once free, primed with the end of the block before. */
static void gz_next(void) {
  struct slot *s = &slots[sealed % NSLOT];
  while (written + NSLOT <= sealed) gz_drain(1);
  if (!s->in) {
    s->in = xrealloc(NULL, BLK);
    s->out = xrealloc(NULL, OUTCAP);
  }
  s->in_len = 0, s->last = 0, s->seq = sealed, s->dict_len = 0;
  if (sealed) {
    struct slot *p = &slots[(sealed - 1) % NSLOT]; /* intact: reused only NSLOT blocks on */
    s->dict_len = p->in_len < DICT ? p->in_len : DICT;
    memcpy(s->dict, p->in + p->in_len - s->dict_len, s->dict_len);
  }
  cur = s;
}

static void gz_seal(int last) {
  pthread_mutex_lock(&gz_mu);
  cur->last = last;
  cur->state = 1;
  sealed++;
  pthread_cond_signal(&gz_work);
  pthread_mutex_unlock(&gz_mu);
  cur = NULL;
  gz_drain(0);
}

static void gz_start(void) {
  static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  out_fd = open(gz_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out_fd < 0) die(1, "diff-tar: create %s", gz_path);
  sha256_init(&gz_sha);
  write_out(head, sizeof head);
  crc_all = crc32(0, NULL, 0);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  nworkers = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
  for (int i = 0; i < nworkers; i++)
    if (pthread_create(&workers[i], NULL, gz_worker, NULL)) die(1, "diff-tar: start a compression thread");
  gz_next();
}

static void gz_finish(void) {
  gz_seal(1);
  gz_drain(1);
  while (written < sealed) gz_drain(1);
  pthread_mutex_lock(&gz_mu);
  stopping = 1;
  pthread_cond_broadcast(&gz_work);
  pthread_mutex_unlock(&gz_mu);
  for (int i = 0; i < nworkers; i++) pthread_join(workers[i], NULL);
  unsigned char t[8];
  for (int i = 0; i < 4; i++) t[i] = (unsigned char)(crc_all >> (8 * i)), t[4 + i] = (unsigned char)(gz_in >> (8 * i));
  write_out(t, sizeof t);
  if (fsync(out_fd) < 0 || close(out_fd) < 0) die(1, "diff-tar: write %s", gz_path);
}

static void oput(const void *p, size_t n) {
  const unsigned char *s = p;
  sha256_update(&tar_sha, s, n);
  tar_bytes += n;
  while (n) {
    if (gz_mode) {
      size_t k = BLK - cur->in_len < n ? BLK - cur->in_len : n;
      memcpy(cur->in + cur->in_len, s, k);
      cur->in_len += k, s += k, n -= k;
      if (cur->in_len == BLK) {
        gz_seal(0);
        gz_next();
      }
      continue;
    }
    size_t k = OBUF - olen < n ? OBUF - olen : n;
    memcpy(obuf + olen, s, k);
    olen += k, s += k, n -= k;
    if (olen == OBUF) oflush();
  }
}

static void ozero(size_t n) {
  static const unsigned char z[512];
  while (n) {
    size_t k = n < sizeof z ? n : sizeof z;
    oput(z, k);
    n -= k;
  }
}

/* ---------- tar headers ---------- */

struct pax {
  char *b;
  size_t len, cap;
};

static void pax_add(struct pax *p, const char *key, const char *val, size_t vlen) {
  /* "LEN key=value\n", LEN counting itself */
  size_t body = strlen(key) + vlen + 3, len = body + 1;
  for (size_t d = 1; ; d++) {
    char tmp[24];
    len = body + (size_t)snprintf(tmp, sizeof tmp, "%zu", body + d);
    if ((size_t)snprintf(tmp, sizeof tmp, "%zu", len) == len - body) break;
  }
  if (p->len + len + 1 > p->cap) {
    p->cap = (p->len + len + 1) * 2;
    p->b = xrealloc(p->b, p->cap);
  }
  int n = snprintf(p->b + p->len, p->cap - p->len, "%zu %s=", len, key);
  memcpy(p->b + p->len + n, val, vlen);
  p->b[p->len + n + vlen] = '\n';
  p->len += len;
}

/* v as w-1 octal digits and a NUL; 0 (field untouched) when it does not fit */
static int octal(char *f, size_t w, unsigned long long v) {
  char d[24];
  for (size_t i = w - 1; i-- > 0; v >>= 3) d[i] = (char)('0' + (v & 7));
  if (v) return 0;
  memcpy(f, d, w - 1);
  f[w - 1] = 0;
  return 1;
}

/* A header block with its checksum, out. */
static void put_block(unsigned char *h) {
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  octal((char *)h + 148, 7, sum);
  h[155] = ' ';
  oput(h, 512);
}

static void put_header(const char *name, char type, const struct stat *st, unsigned long long size, const char *link, struct pax *pax) {
  unsigned char h[512];
  memset(h, 0, sizeof h);
  size_t nl = strlen(name), ll = link ? strlen(link) : 0;
  char num[32];
  if (nl > 100) pax_add(pax, "path", name, nl);
  if (ll > 100) pax_add(pax, "linkpath", link, ll);
  if (!octal((char *)h + 108, 8, st->st_uid)) snprintf(num, sizeof num, "%u", (unsigned)st->st_uid), pax_add(pax, "uid", num, strlen(num));
  if (!octal((char *)h + 116, 8, st->st_gid)) snprintf(num, sizeof num, "%u", (unsigned)st->st_gid), pax_add(pax, "gid", num, strlen(num));
  if (!octal((char *)h + 124, 12, size)) snprintf(num, sizeof num, "%llu", size), pax_add(pax, "size", num, strlen(num));
  unsigned long long mt = st->st_mtim.tv_sec < 0 ? 0 : (unsigned long long)st->st_mtim.tv_sec;
  if (st->st_mtim.tv_sec < 0 || mt > 077777777777ULL) {
    /* before 1970 or after 2242: the header can't say it, a PAX record does */
    snprintf(num, sizeof num, "%lld", (long long)st->st_mtim.tv_sec);
    pax_add(pax, "mtime", num, strlen(num));
    mt = st->st_mtim.tv_sec < 0 ? 0 : 077777777777ULL;
  }
  if (pax->len) {
    /* the extended header first: its own entry, named as GNU tar and Go name theirs */
    unsigned char x[512];
    memset(x, 0, sizeof x);
    const char *base = strrchr(name, '/');
    base = base && base[1] ? base + 1 : name;
    snprintf((char *)x, 100, "PaxHeaders/%.80s", base);
    octal((char *)x + 100, 8, 0644);
    octal((char *)x + 108, 8, 0);
    octal((char *)x + 116, 8, 0);
    octal((char *)x + 124, 12, pax->len);
    octal((char *)x + 136, 12, mt);
    x[156] = 'x';
    memcpy(x + 257, "ustar\0" "00", 8);
    put_block(x);
    oput(pax->b, pax->len);
    ozero((512 - pax->len % 512) % 512);
    pax->len = 0;
  }
  memcpy(h, name, nl > 100 ? 100 : nl);
  octal((char *)h + 100, 8, st->st_mode & 07777);
  if (h[108] == 0) octal((char *)h + 108, 8, 0);
  if (h[116] == 0) octal((char *)h + 116, 8, 0);
  if (h[124] == 0) octal((char *)h + 124, 12, 0);
  octal((char *)h + 136, 12, mt);
  h[156] = (unsigned char)type;
  if (link) memcpy(h + 157, link, ll > 100 ? 100 : ll);
  memcpy(h + 257, "ustar\0" "00", 8);
  if (type == '3' || type == '4') {
    octal((char *)h + 329, 8, major(st->st_rdev));
    octal((char *)h + 337, 8, minor(st->st_rdev));
  }
  put_block(h);
}

/* ---------- xattrs ---------- */

static int private_xattr(const char *n) {
  return !strncmp(n, "user.overlay.", 13) || !strncmp(n, "trusted.overlay.", 16) || !strncmp(n, "user.fuseoverlayfs.", 19) ||
         !strncmp(n, "system.", 7) || !strcmp(n, "security.selinux");
}

static char *xnames, *xval;
#define XBUF (64u << 10)

/* /proc/self/fd/DIRFD/NAME: the l*xattr calls on a name in an open directory, not following it */
static void at_path(char *buf, size_t n, int dfd, const char *name) { snprintf(buf, n, "/proc/self/fd/%d/%s", dfd, name); }

/* The entry's xattrs as PAX records: 0; -1 when the entry is gone. */
static int add_xattrs(struct pax *pax, int dfd, const char *name) {
  char p[PATH_MAX + 64];
  at_path(p, sizeof p, dfd, name);
  if (!xnames) xnames = xrealloc(NULL, XBUF), xval = xrealloc(NULL, XBUF);
  ssize_t n = llistxattr(p, xnames, XBUF);
  if (n < 0) {
    if (errno == ENOTSUP || errno == ENODATA) return 0;
    if (errno == ENOENT) return -1;
    fail("list xattrs", errno);
  }
  /* in name order: the same tree, the same tar */
  const char *names[1024];
  int k = 0;
  for (ssize_t i = 0; i < n && k < 1024; i += (ssize_t)strlen(xnames + i) + 1) {
    const char *x = xnames + i;
    /* an upper written with redirect_dir or metacopy on holds directories and
     * files whose content is elsewhere: refused, never a layer without it */
    if (!nlower && (!strcmp(x, "trusted.overlay.redirect") || !strcmp(x, "user.overlay.redirect") || !strcmp(x, "trusted.overlay.metacopy") || !strcmp(x, "user.overlay.metacopy")))
      fail("written by overlayfs with redirect_dir or metacopy (content kept in the lower layers): cannot be read as a layer", 0);
    if (!private_xattr(x)) names[k++] = x;
  }
  for (int i = 1; i < k; i++)
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      const char *t = names[j];
      names[j] = names[j - 1], names[j - 1] = t;
    }
  for (int i = 0; i < k; i++) {
    ssize_t v = lgetxattr(p, names[i], xval, XBUF);
    if (v < 0) {
      if (errno == ENODATA) continue;
      if (errno == ENOENT) {
        pax->len = 0;
        return -1;
      }
      fail("read xattr", errno);
    }
    char key[300];
    snprintf(key, sizeof key, "SCHILY.xattr.%s", names[i]);
    pax_add(pax, key, xval, (size_t)v);
  }
  return 0;
}

static int opaque_dir(int dfd, const char *name) {
  char p[PATH_MAX + 64], v[4];
  at_path(p, sizeof p, dfd, name);
  static const char *keys[] = {"user.overlay.opaque", "trusted.overlay.opaque", "user.fuseoverlayfs.opaque"};
  for (int i = 0; i < 3; i++) {
    ssize_t n = lgetxattr(p, keys[i], v, sizeof v);
    if (n == 1 && v[0] == 'y') return 1;
  }
  return 0;
}

/* ---------- hard links among the written files ---------- */

struct hl {
  dev_t dev;
  ino_t ino;
  char *path;
};
static struct hl *hls;
static size_t hl_cap, hl_n;

static struct hl *hl_slot(dev_t dev, ino_t ino) {
  if (hl_n * 2 >= hl_cap) {
    size_t cap = hl_cap ? hl_cap * 2 : 1024;
    struct hl *n = xrealloc(NULL, cap * sizeof *n);
    memset(n, 0, cap * sizeof *n);
    for (size_t i = 0; i < hl_cap; i++)
      if (hls[i].path) {
        size_t j = (size_t)(hls[i].ino * 0x9E3779B97F4A7C15ULL ^ hls[i].dev) & (cap - 1);
        while (n[j].path) j = (j + 1) & (cap - 1);
        n[j] = hls[i];
      }
    free(hls);
    hls = n, hl_cap = cap;
  }
  size_t j = (size_t)(ino * 0x9E3779B97F4A7C15ULL ^ dev) & (hl_cap - 1);
  while (hls[j].path && !(hls[j].dev == dev && hls[j].ino == ino)) j = (j + 1) & (hl_cap - 1);
  return &hls[j];
}

/* ---------- entries ---------- */

static struct pax pax;
static char *fbuf;
static unsigned long long n_entries;

static int is_whiteout(const struct stat *st) { return S_ISCHR(st->st_mode) && st->st_rdev == 0; }

static void emit_whiteout(const char *name, const struct stat *st) {
  /* REL's directory + ".wh." + name */
  size_t dl = rp.len > strlen(name) ? rp.len - strlen(name) : 0;
  char *p = xrealloc(NULL, dl + strlen(name) + 5);
  memcpy(p, rp.s, dl);
  sprintf(p + dl, ".wh.%s", name);
  struct stat z = {0};
  z.st_mtim = st->st_mtim;
  put_header(p, '0', &z, 0, NULL, &pax);
  free(p);
  n_entries++;
}

static void emit_opaque(const struct stat *st) {
  size_t old = relpath_push(&rp, ".wh..wh..opq");
  struct stat z = {0};
  z.st_mtim = st->st_mtim;
  put_header(rp.s, '0', &z, 0, NULL, &pax);
  relpath_pop(&rp, old);
  n_entries++;
}

/* A regular file's fd, checked to be the file that was stat'ed; -1: it is gone (a running container removed it). */
static int open_data(int dfd, const char *name, const struct stat *st) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT) return -1;
  if (fd < 0) fail("open", errno);
  /* still the file that was stat'ed: a running container may have put a device
   * or a FIFO there meanwhile, which must not be read (as real root, a disk) */
  struct stat now;
  if (fstat(fd, &now) < 0) fail("stat", errno);
  if (!S_ISREG(now.st_mode) || now.st_ino != st->st_ino || now.st_dev != st->st_dev) fail("changed while read (not the same regular file)", 0);
  return fd;
}

static void emit_data(int fd, const struct stat *st) {
  unsigned long long left = (unsigned long long)st->st_size;
  if (!fbuf) fbuf = xrealloc(NULL, OBUF);
  while (left) {
    ssize_t n = read(fd, fbuf, left < OBUF ? left : OBUF);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read", errno);
    if (n == 0) break; /* shorter now: padded below */
    oput(fbuf, (size_t)n);
    left -= (unsigned long long)n;
  }
  close(fd);
  ozero(left);
  ozero((512 - (size_t)(st->st_size % 512)) % 512);
}

/* One non-whiteout entry (REL names it) as tar; directories with a trailing slash. */
static void emit(int dfd, const char *name, const struct stat *st) {
  /* an entry that is gone by now (a running container) is left out, as if read a moment later */
  int fd = -1;
  if (S_ISREG(st->st_mode) && (st->st_nlink < 2 || !hl_slot(st->st_dev, st->st_ino)->path) && (fd = open_data(dfd, name, st)) < 0) return;
  if (add_xattrs(&pax, dfd, name) < 0) {
    if (fd >= 0) close(fd);
    return;
  }
  n_entries++;
  if (S_ISDIR(st->st_mode)) {
    size_t old = rp.len;
    rp.s[rp.len++] = '/', rp.s[rp.len] = 0;
    put_header(rp.s, '5', st, 0, NULL, &pax);
    relpath_pop(&rp, old);
    return;
  }
  if (st->st_nlink > 1) {
    struct hl *h = hl_slot(st->st_dev, st->st_ino);
    if (h->path) {
      pax.len = 0; /* a link carries no xattrs of its own */
      put_header(rp.s, '1', st, 0, h->path, &pax);
      return;
    }
    h->dev = st->st_dev, h->ino = st->st_ino, h->path = strdup(rp.s);
    if (!h->path) fail("out of memory", ENOMEM);
    hl_n++;
  }
  if (S_ISREG(st->st_mode)) {
    put_header(rp.s, '0', st, (unsigned long long)st->st_size, NULL, &pax);
    emit_data(fd, st);
  } else if (S_ISLNK(st->st_mode)) {
    char t[PATH_MAX + 1];
    ssize_t n = readlinkat(dfd, name, t, PATH_MAX);
    if (n < 0 && errno == ENOENT) {
      n_entries--, pax.len = 0;
      return;
    }
    if (n < 0) fail("readlink", errno);
    t[n] = 0;
    put_header(rp.s, '2', st, 0, t, &pax);
  } else if (S_ISCHR(st->st_mode)) put_header(rp.s, '3', st, 0, NULL, &pax);
  else if (S_ISBLK(st->st_mode)) put_header(rp.s, '4', st, 0, NULL, &pax);
  else if (S_ISFIFO(st->st_mode)) put_header(rp.s, '6', st, 0, NULL, &pax);
  else n_entries--, pax.len = 0; /* a socket: tar has no type for it */
}

/* ---------- directories ---------- */

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in a directory (without . and ..), sorted; *n their count. Freed with free_names. */
static char **list_dir(int fd, size_t *n) {
  int d2 = dup(fd);
  DIR *d = d2 < 0 ? NULL : fdopendir(d2);
  if (!d) fail("read directory", errno);
  rewinddir(d); /* a dup shares the offset: read from the start whoever read before */
  size_t cap = 64, k = 0;
  char **v = xrealloc(NULL, cap * sizeof *v);
  errno = 0;
  for (struct dirent *e; (e = readdir(d)); errno = 0) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
    if (!(v[k++] = strdup(e->d_name))) fail("out of memory", ENOMEM);
  }
  if (errno) fail("read directory", errno);
  closedir(d);
  qsort(v, k, sizeof *v, by_name);
  *n = k;
  return v;
}

static void free_names(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static int has_name(char **v, size_t n, const char *name) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(v[mid], name);
    if (!c) return 1;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return 0;
}

static int open_dir_at(int dfd, const char *name) { return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); }

/*
 * An overlay upper directory: every entry is a change. opaque: the directory's
 * stat when it is opaque, so that its marker goes first (unless it has a
 * .wh..wh..opq of its own, as fuse-overlayfs may write).
 */
static void walk_upper(int fd, dev_t dev, const struct stat *opaque) {
  size_t n;
  char **names = list_dir(fd, &n);
  if (opaque && !has_name(names, n, ".wh..wh..opq")) emit_opaque(opaque);
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    size_t old = relpath_push(&rp, names[i]);
    if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) fail("stat", errno); /* gone meanwhile (a running container) */
    } else if (is_whiteout(&st)) emit_whiteout(names[i], &st);
    else if (S_ISDIR(st.st_mode)) {
      if (st.st_dev == dev) {
        int sub = open_dir_at(fd, names[i]);
        if (sub < 0 && errno != ENOENT) fail("open directory", errno);
        if (sub < 0) {
          relpath_pop(&rp, old);
          continue;
        }
        emit(fd, names[i], &st);
        walk_upper(sub, dev, opaque_dir(fd, names[i]) ? &st : NULL);
        close(sub);
      }
    } else emit(fd, names[i], &st);
    relpath_pop(&rp, old);
  }
  free_names(names, n);
}

/* ---------- a whole tree against layers ---------- */

/* What the layers show at one name: the top-most entry, and the directories that merge below it. */
struct view {
  int found;
  struct stat st;
  int layer;      /* where st is from */
  int dirs[MAXLOWER];
  int ndirs;      /* directory fds, top first, that make up a directory's content */
};

/* Lookup of NAME in the directories of parent (top first), as overlayfs merges them. */
static void look(const int *pdirs, int npd, const char *name, struct view *v) {
  v->found = 0, v->ndirs = 0;
  for (int i = 0; i < npd; i++) {
    struct stat st;
    if (fstatat(pdirs[i], name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      fail("stat in a layer", errno);
    }
    if (is_whiteout(&st)) return;
    if (!v->found) v->found = 1, v->st = st, v->layer = i;
    if (!S_ISDIR(st.st_mode)) return;
    if (!S_ISDIR(v->st.st_mode)) return;
    int d = open_dir_at(pdirs[i], name);
    if (d < 0) fail("open a layer's directory", errno);
    v->dirs[v->ndirs++] = d;
    if (opaque_dir(pdirs[i], name)) return;
  }
}

static void close_view(struct view *v) {
  for (int i = 0; i < v->ndirs; i++) close(v->dirs[i]);
  v->ndirs = 0;
}

static int same_time(const struct stat *a, const struct stat *b) {
  return a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* NAME in fd (stat st) differs from what the layers show (v, found in ldirs): 1, else 0. */
static int changed(int fd, const char *name, const struct stat *st, const struct view *v, const int *ldirs) {
  if (!v->found) return 1;
  const struct stat *l = &v->st;
  if ((st->st_mode & S_IFMT) != (l->st_mode & S_IFMT) || (st->st_mode & 07777) != (l->st_mode & 07777) || st->st_uid != l->st_uid || st->st_gid != l->st_gid) return 1;
  if (!same_time(st, l)) return 1;
  if (S_ISREG(st->st_mode)) return st->st_size != l->st_size;
  if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) return st->st_rdev != l->st_rdev;
  if (S_ISLNK(st->st_mode)) {
    char a[PATH_MAX + 1], b[PATH_MAX + 1];
    ssize_t x = readlinkat(fd, name, a, PATH_MAX), y = readlinkat(ldirs[v->layer], name, b, PATH_MAX);
    return x < 0 || y < 0 || x != y || memcmp(a, b, (size_t)x) != 0;
  }
  return 0;
}

static void walk_against(int fd, dev_t dev, const int *ldirs, int nl) {
  size_t n;
  char **names = list_dir(fd, &n);
  /* the names the layers show here: each layer's, minus those hidden by a layer above */
  size_t lcap = 64, ln = 0;
  char **lnames = xrealloc(NULL, lcap * sizeof *lnames);
  for (int i = 0; i < nl; i++) {
    size_t k;
    char **v = list_dir(ldirs[i], &k);
    for (size_t j = 0; j < k; j++) {
      if (ln == lcap) lnames = xrealloc(lnames, (lcap *= 2) * sizeof *lnames);
      lnames[ln++] = v[j];
    }
    free(v);
  }
  qsort(lnames, ln, sizeof *lnames, by_name);
  size_t u = 0;
  for (size_t k = 0; k < ln; k++) {
    if (u && !strcmp(lnames[u - 1], lnames[k])) free(lnames[k]);
    else lnames[u++] = lnames[k];
  }
  ln = u;
  /* both lists in name order: removed names as whiteouts where they sort */
  size_t i = 0, j = 0;
  while (i < n || j < ln) {
    int c = i >= n ? 1 : j >= ln ? -1 : strcmp(names[i], lnames[j]);
    if (c > 0) {
      /* only in the layers: removed, unless the layers' own whiteout hides it already */
      struct view v;
      look(ldirs, nl, lnames[j], &v);
      if (v.found) {
        size_t old = relpath_push(&rp, lnames[j]);
        emit_whiteout(lnames[j], &v.st);
        relpath_pop(&rp, old);
      }
      close_view(&v);
      j++;
      continue;
    }
    const char *name = names[i];
    if (c == 0) j++;
    i++;
    struct stat st;
    size_t old = relpath_push(&rp, name);
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) fail("stat", errno);
      relpath_pop(&rp, old);
      continue;
    }
    struct view v;
    look(ldirs, nl, name, &v);
    int ch = changed(fd, name, &st, &v, ldirs);
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev == dev) {
        int sub = open_dir_at(fd, name);
        if (sub < 0 && errno != ENOENT) fail("open directory", errno);
        if (sub < 0) {
          close_view(&v);
          relpath_pop(&rp, old);
          continue;
        }
        if (ch) emit(fd, name, &st);
        /* below a directory that replaced a non-directory, the layers show nothing */
        walk_against(sub, dev, v.dirs, v.found && S_ISDIR(v.st.st_mode) ? v.ndirs : 0);
        close(sub);
      }
    } else if (ch) emit(fd, name, &st);
    close_view(&v);
    relpath_pop(&rp, old);
  }
  free_names(names, n);
  free_names(lnames, ln);
}

struct args {
  const char *dir;
};

static int do_diff_tar(void *p) {
  struct args *a = p;
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* (a forked child: with the helper it came from) */
  sha256_init(&tar_sha);
  if (gz_mode) gz_start();
  else obuf = xrealloc(NULL, OBUF);
  int fd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open", errno);
  struct stat st;
  if (fstat(fd, &st) < 0) fail("stat", errno);
  if (!nlower) walk_upper(fd, st.st_dev, NULL);
  else {
    int ldirs[MAXLOWER];
    for (int i = 0; i < nlower; i++) {
      ldirs[i] = open(lower_arg[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (ldirs[i] < 0) {
        top_arg = lower_arg[i];
        fail("open layer", errno);
      }
    }
    walk_against(fd, st.st_dev, ldirs, nlower);
  }
  ozero(1024);
  if (gz_mode) gz_finish();
  else oflush();
  char hex[65];
  sha256_hex(&tar_sha, hex);
  int sum = gz_mode ? 1 : 2; /* the summary: stdout unless the tar is there */
  dprintf(sum, "{\"entries\":%llu,\"tar_bytes\":%llu,\"diff_id\":\"sha256:%s\"", n_entries, tar_bytes, hex);
  if (gz_mode) {
    sha256_hex(&gz_sha, hex);
    dprintf(sum, ",\"digest\":\"sha256:%s\",\"size\":%llu", hex, gz_bytes);
  }
  dprintf(sum, "}\n");
  return 0;
}

int cmd_diff_tar(int argc, char **argv) {
  /* tspod decides what a Ctrl-C or a closed terminal ends (it kills this helper
   * then); this one ends with tspod however tspod ends */
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1;
  struct map_flags m = {0};
  int i = 1;
  for (; i < argc; i++) {
    if (take_map_flag(argc, argv, &i, &m)) continue;
    if (!strcmp(argv[i], "--gzip") && i + 1 < argc) {
      gz_mode = 1;
      gz_path = argv[++i];
      continue;
    }
    if (!strcmp(argv[i], "--lower") && i + 1 < argc) {
      if (nlower == MAXLOWER) die(125, "diff-tar: more than %d layers", MAXLOWER);
      lower_arg[nlower++] = argv[++i];
    } else break;
  }
  if (i != argc - 1) die(125, "usage: tspod-rt diff-tar [--uidmap SPEC --gidmap SPEC [--keep-userns FILE]] [--gzip FILE] [--lower LAYER]... DIR");
  struct args a = {argv[i]};
  top_arg = argv[i];
  char err[512] = "";
  int rc = run_in_userns(m.uidmap, m.gidmap, m.keep, do_diff_tar, &a, err, sizeof err);
  if (rc < 0) die(125, "diff-tar: user namespace: %s", err);
  return rc;
}
