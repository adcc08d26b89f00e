/*
 * `tspod-rt unpack [--uidmap SPEC --gidmap SPEC [--keep-userns FILE]] DEST`: apply one image layer
 * (an uncompressed tar stream on stdin) into the directory DEST.
 *
 * Where it runs:
 *  - real root, no maps: in this process, owners exactly as in the tar;
 *  - with maps and --keep-userns FILE: this process joins the user namespace
 *    the keeper named in FILE holds (made first when there is none: idmap.c),
 *    so owners land on disk exactly as the container will see them;
 *  - with maps only: a forked child enters a new user namespace, the parent
 *    maps it through newuidmap/newgidmap, the child applies the layer;
 *  - non-root, no maps: same, with a single-id map (0 -> own uid); entries
 *    owned by unmapped ids stay owned by 0 and are counted as "squashed".
 *
 * Confinement: every parent directory is resolved with openat2(2)
 * RESOLVE_IN_ROOT relative to an O_PATH fd of DEST (so `..`, absolute names
 * and symlinks in the layer resolve as if DEST were /), and the last
 * component is made with *at() calls that never follow it (O_EXCL|O_NOFOLLOW,
 * AT_SYMLINK_NOFOLLOW, mknodat, symlinkat, linkat through /proc/self/fd).
 *
 * Whiteouts become what kernel overlayfs (userxattr) and fuse-overlayfs read:
 * `.wh.NAME` -> char device 0:0 NAME; `.wh..wh..opq` -> user.overlay.opaque=y
 * on the directory (and trusted.overlay.opaque=y as real root).
 *
 * --input tar|gzip|zstd|auto (a pull): stdin is the layer blob as downloaded; it is
 * copied to --blob FILE, decompressed here, and the SHA-256 of the tar (the
 * diff id) and the byte counts are added to the JSON line.
 *
 * Prints one JSON line of counters on success; on error one line
 * `tspod-rt: unpack: <entry>: <what failed>: <strerror>` and exit 1.
 */
#include "common.h"
#include "idmap.h"
#include "sha256.h"
#include <zlib.h>
#include <zstd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#ifndef RESOLVE_NO_XDEV
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif

struct tspod_open_how {
  uint64_t flags, mode, resolve;
};

#define BUFSZ (1u << 20)
#define BIG_COPY (128u << 10)     /* remainder size from which splice / copy_file_range is used */
#define META_MAX (16u << 20)      /* largest pax / GNU long-name payload accepted */
#define NCACHE 32                 /* parent directory fds kept open */
#define RES (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

/* ---------- state ---------- */

static int rootfd = -1;
static int real_root; /* no user namespace: we are uid 0 on the host */
static uid_t my_uid;
static gid_t my_gid;

static struct {
  unsigned long long entries, bytes, squashed, skipped_devices, skipped_xattrs, skipped_other;
} cnt;

/* ---------- errors ---------- */

static void put_clean(char *dst, size_t cap, const char *s) {
  size_t i = 0;
  for (; s && *s && i + 1 < cap; s++) dst[i++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
  dst[i] = 0;
}

__attribute__((noreturn)) static void fail(const char *path, const char *what, int err) {
  char p[1024];
  put_clean(p, sizeof p, path && *path ? path : "(archive)");
  if (err) dprintf(2, "tspod-rt: unpack: %s: %s: %s\n", p, what, strerror(err));
  else dprintf(2, "tspod-rt: unpack: %s: %s\n", p, what);
  _exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) fail(NULL, "out of memory", ENOMEM);
  return p;
}

/* Memory with its pages in place (MAP_POPULATE): one call instead of a page
 * fault per 4 KiB at first touch. For the buffers every byte of a layer
 * passes through, set up while the helper still waits for input. */
static void *big_alloc(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) fail(NULL, "out of memory", ENOMEM);
  return p;
}

static char *xstrndup(const char *s, size_t n) {
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

/* TSPOD_TRACE set: `[rt EPOCH_MS] what` lines on stderr at marked points (the
 * CLI shows them on its own time line). */
static int tracing = -1;
static void rt_trace(const char *what) {
  if (tracing < 0) tracing = getenv("TSPOD_TRACE") != NULL;
  if (!tracing) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  dprintf(2, "[rt %.3f] %s\n", (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6, what);
}

/* ---------- input ---------- */

static unsigned char *ibuf;
static size_t ipos, ilen;
static unsigned long long in_off; /* bytes of the stream consumed */
static int in_pipe, in_reg;       /* what stdin is: fast paths */

/* stdin handed over non-blocking: wait for data instead of spinning. */
static void wait_in(void) {
  struct pollfd p = {.fd = 0, .events = POLLIN};
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {}
}

/*
 * What stdin carries (--input): a plain tar read as it comes (IN_RAW, the
 * default: splice/copy_file_range for file data), or, for a pull, the layer
 * blob as downloaded: IN_TAR, IN_GZIP or IN_ZSTD. Then every input byte is
 * counted and copied to the --blob file, the tar is decompressed here (in
 * parallel with the CLI, which only moves bytes), and the SHA-256 of the
 * whole uncompressed stream (the layer's diff id) is reported.
 */
enum { IN_RAW, IN_TAR, IN_GZIP, IN_ZSTD, IN_AUTO };
static const char *const in_names[] = {"raw", "tar", "gzip", "zstd", "auto"};
static int in_kind = IN_RAW;
static int blob_fd = -1;
static unsigned long long raw_total, tar_total;
static unsigned long long die_after; /* TSPOD_RT_FAILPOINT=unpack-dies-midway */
static struct sha256 tar_hash;
#define ZIN (256u << 10)
static unsigned char *zin;
static int zin_eof;
static z_stream zs;
static int gz_member_done, gz_started;
static ZSTD_DStream *zd;
static ZSTD_inBuffer zsin;
static size_t zstd_last = 0;
static size_t pend_pos, pend_len; /* tar bytes read while looking at the start (auto) */

/* Bytes from stdin as they are, copied to the blob file. 0 at end of input. */
static size_t raw_read(unsigned char *dst, size_t cap) {
  for (;;) {
    ssize_t n = read(0, dst, cap);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        wait_in();
        continue;
      }
      fail(NULL, "read stdin", errno);
    }
    if (n > 0) {
      if (!raw_total) rt_trace("first input");
      raw_total += (unsigned long long)n;
      if (die_after && raw_total >= die_after) _exit(3);
      if (blob_fd >= 0 && write_all(blob_fd, dst, (size_t)n) < 0) fail(NULL, "write blob file", errno);
    }
    return (size_t)n;
  }
}

static void zin_refill(void) {
  size_t n = raw_read(zin, ZIN);
  if (!n) zin_eof = 1;
  zs.next_in = zin, zs.avail_in = (uInt)n;
  zsin = (ZSTD_inBuffer){zin, n, 0};
}

/* gzip, one member after another (as Go's reader reads them); anything after a
 * member that is not another one is an error. */
static size_t gz_read(unsigned char *dst, size_t cap) {
  for (;;) {
    if (zs.avail_in == 0 && !zin_eof) zin_refill();
    if (gz_member_done || !gz_started) {
      if (zs.avail_in == 0) {
        if (zin_eof) {
          if (!gz_started) fail("layer blob", "empty gzip stream", 0);
          return 0;
        }
        continue;
      }
      if (gz_started && inflateReset(&zs) != Z_OK) fail("layer blob", "gzip reset", 0);
      gz_started = 1, gz_member_done = 0;
    }
    zs.next_out = dst, zs.avail_out = (uInt)cap;
    int r = inflate(&zs, Z_NO_FLUSH);
    size_t got = cap - zs.avail_out;
    if (r == Z_STREAM_END) gz_member_done = 1;
    else if (r != Z_OK && r != Z_BUF_ERROR) {
      char what[160];
      snprintf(what, sizeof what, "bad gzip data (%s)", zs.msg ? zs.msg : "inflate failed");
      fail("layer blob", what, 0);
    }
    if (got) return got;
    if (!gz_member_done && zin_eof && zs.avail_in == 0) fail("layer blob", "truncated gzip stream", 0);
  }
}

static size_t zstd_read(unsigned char *dst, size_t cap) {
  for (;;) {
    if (zsin.pos == zsin.size && !zin_eof) zin_refill();
    ZSTD_outBuffer out = {dst, cap, 0};
    if (zsin.pos < zsin.size || zstd_last) {
      size_t r = ZSTD_decompressStream(zd, &out, &zsin);
      if (ZSTD_isError(r)) {
        char what[160];
        snprintf(what, sizeof what, "bad zstd data (%s)", ZSTD_getErrorName(r));
        fail("layer blob", what, 0);
      }
      zstd_last = r;
    }
    if (out.pos) return out.pos;
    if (zin_eof && zsin.pos == zsin.size) {
      if (zstd_last) fail("layer blob", "truncated zstd stream", 0);
      return 0;
    }
  }
}

static void decoder_init(void) {
  if (in_kind == IN_GZIP && inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(NULL, "gzip init", ENOMEM);
  if (in_kind == IN_ZSTD && (!(zd = ZSTD_createDStream()) || ZSTD_isError(ZSTD_initDStream(zd))))
    fail(NULL, "zstd init", ENOMEM);
}

static void input_init(const char *kind) {
  if (!kind) return;
  if (!strcmp(kind, "tar")) in_kind = IN_TAR;
  else if (!strcmp(kind, "gzip")) in_kind = IN_GZIP;
  else if (!strcmp(kind, "zstd")) in_kind = IN_ZSTD;
  else if (!strcmp(kind, "auto")) in_kind = IN_AUTO;
  else fail(kind, "unknown --input (tar, gzip, zstd or auto)", 0);
  sha256_init(&tar_hash);
  if (in_kind == IN_TAR) return;
  zin = xmalloc(ZIN);
  decoder_init();
}

/* --input auto (a helper started before the manifest said what the layer is):
 * what the first bytes are, as containers/image detects it: gzip and zstd by
 * their magic numbers, anything else is taken as a tar. The CLI checks the
 * answer against the layer's media type. */
static void detect_input(void) {
  size_t n = 0, r = 1;
  while (n < 4 && r) n += r = raw_read(zin + n, ZIN - n);
  if (!r) zin_eof = 1;
  if (n >= 2 && zin[0] == 0x1f && zin[1] == 0x8b) in_kind = IN_GZIP;
  else if (n >= 4 && zin[0] == 0x28 && zin[1] == 0xb5 && zin[2] == 0x2f && zin[3] == 0xfd) in_kind = IN_ZSTD;
  else in_kind = IN_TAR;
  decoder_init();
  zs.next_in = zin, zs.avail_in = (uInt)n;
  zsin = (ZSTD_inBuffer){zin, n, 0};
  if (in_kind == IN_TAR) pend_pos = 0, pend_len = n;
}

/* Up to cap bytes of src[*pos..len) into dst. */
static size_t take(unsigned char *dst, size_t cap, const unsigned char *src, size_t *pos, size_t len) {
  size_t n = len - *pos < cap ? len - *pos : cap;
  memcpy(dst, src + *pos, n);
  *pos += n;
  return n;
}

/* The decompressed stream's next bytes into dst, digested: 0 at its end. */
static size_t decoded_read(unsigned char *dst, size_t cap) {
  size_t n;
  if (in_kind == IN_AUTO) detect_input();
  switch (in_kind) {
  case IN_GZIP: n = gz_read(dst, cap); break;
  case IN_ZSTD: n = zstd_read(dst, cap); break;
  default: n = pend_pos < pend_len ? take(dst, cap, zin, &pend_pos, pend_len) : raw_read(dst, cap); break;
  }
  sha256_update(&tar_hash, dst, n);
  tar_total += n;
  return n;
}

/*
 * With --input, a second thread reads, keeps, decompresses and digests the
 * blob while this one creates files: on this kind of work the two take about
 * as long as each other (zlib inflates ~150 MB/s here; creating small files
 * is kernel time), so a pull is bounded by the slower, not their sum. They
 * meet in a ring of QN buffers; a failure in either ends the process.
 *
 * Small buffers: the same few pages are used again and again. Where a page's
 * first touch is dear (~5-12 us on this CI kind of VM), a 1 MB busybox layer
 * inflated whole by libdeflate into fresh memory (~550 first touches, and
 * nothing done before its last byte came) pulled in ~15 ms more than this
 * stream through zlib (bench: 138 -> 123 ms), which inflates and unpacks while
 * the layer downloads. Larger layers streamed this way already.
 */
#define QN 8
#define QBUF (64u << 10)
static struct {
  unsigned char *buf;
  size_t len;
} ring[QN];
static unsigned long q_filled, q_used; /* buffers produced / consumed so far */
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static size_t q_pos; /* read position in ring[q_used % QN] */

static int producer_done; /* input read, kept and digested: the result can be reported */

static void producer_finish(void) {
  rt_trace("input decompressed");
  pthread_mutex_lock(&q_mu);
  producer_done = 1;
  pthread_cond_broadcast(&q_cv);
  pthread_mutex_unlock(&q_mu);
}

static void *producer(void *arg) {
  (void)arg;
  if (in_kind == IN_AUTO) detect_input();
  for (;;) {
    pthread_mutex_lock(&q_mu);
    while (q_filled - q_used == QN) pthread_cond_wait(&q_cv, &q_mu);
    unsigned slot = (unsigned)(q_filled % QN);
    pthread_mutex_unlock(&q_mu);
    size_t n = 0, r = 1;
    while (n < QBUF && r) n += r = decoded_read(ring[slot].buf + n, QBUF - n); /* full buffers: fewer hand-overs */
    pthread_mutex_lock(&q_mu);
    ring[slot].len = n;
    q_filled++;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
    if (!n) {
      producer_finish();
      return NULL;
    }
  }
}

static void producer_start(void) {
  for (int i = 0; i < QN; i++) ring[i].buf = xmalloc(QBUF);
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, 256u << 10);
  int e = pthread_create(&t, &a, producer, NULL);
  if (e) fail(NULL, "start decompression thread", e);
}

/* The tar stream's next bytes into dst: 0 at its end. */
static size_t tar_read(unsigned char *dst, size_t cap) {
  if (in_kind == IN_RAW) return raw_read(dst, cap);
  pthread_mutex_lock(&q_mu);
  while (q_filled == q_used) pthread_cond_wait(&q_cv, &q_mu);
  unsigned slot = (unsigned)(q_used % QN);
  pthread_mutex_unlock(&q_mu);
  size_t left = ring[slot].len - q_pos;
  if (!ring[slot].len) return 0; /* the end: the slot stays, so every later call ends too */
  size_t k = left < cap ? left : cap;
  memcpy(dst, ring[slot].buf + q_pos, k);
  q_pos += k;
  if (q_pos == ring[slot].len) {
    q_pos = 0;
    pthread_mutex_lock(&q_mu);
    q_used++;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
  }
  return k;
}

/* Make at least `need` (<= BUFSZ) bytes available; returns what is available. */
static size_t fill(size_t need) {
  if (ilen - ipos >= need) return ilen - ipos;
  if (ipos + need > BUFSZ) {
    memmove(ibuf, ibuf + ipos, ilen - ipos);
    ilen -= ipos;
    ipos = 0;
  }
  while (ilen - ipos < need) {
    size_t n = tar_read(ibuf + ilen, BUFSZ - ilen);
    if (n == 0) break;
    ilen += n;
  }
  return ilen - ipos;
}

static void consume(size_t n) {
  ipos += n;
  in_off += n;
  if (ipos == ilen) ipos = ilen = 0;
}

__attribute__((noreturn)) static void truncated(const char *path) {
  char what[128];
  snprintf(what, sizeof what, "truncated tar stream (unexpected end of input after %llu bytes)", in_off);
  fail(path, what, 0);
}

static void read_exact(void *dst, size_t n, const char *path) {
  unsigned char *d = dst;
  while (n) {
    size_t a = fill(1);
    if (!a) truncated(path);
    size_t k = a < n ? a : n;
    memcpy(d, ibuf + ipos, k);
    consume(k);
    d += k;
    n -= k;
  }
}

static void skip_bytes(unsigned long long n, const char *path) {
  while (n) {
    size_t a = fill(1);
    if (!a) truncated(path);
    size_t k = a < n ? a : (size_t)n;
    consume(k);
    n -= k;
  }
}

static unsigned long long pad512(unsigned long long n) { return (512 - (n & 511)) & 511; }

/* Copy `n` bytes of file data from the stream into fd. */
static void copy_data(int fd, unsigned long long n, const char *path) {
  while (n) {
    size_t a = ilen - ipos;
    if (a) {
      size_t k = a < n ? a : (size_t)n;
      if (write_all(fd, ibuf + ipos, k) < 0) fail(path, "write", errno);
      consume(k);
      n -= k;
      continue;
    }
    /* Buffer empty: stdin's offset is exactly the stream position. */
    if (n >= BIG_COPY && in_kind == IN_RAW && (in_pipe || in_reg)) {
      size_t want = n > (1ull << 30) ? (1u << 30) : (size_t)n;
      ssize_t r = in_pipe ? splice(0, NULL, fd, NULL, want, SPLICE_F_MOVE | SPLICE_F_MORE)
                          : copy_file_range(0, NULL, fd, NULL, want, 0);
      if (r > 0) {
        in_off += (unsigned long long)r;
        n -= (unsigned long long)r;
        continue;
      }
      if (r == 0) truncated(path);
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        wait_in();
        continue;
      }
      if (errno == ENOSPC || errno == EIO || errno == EDQUOT || errno == EFBIG)
        fail(path, "write", errno);
      in_pipe = in_reg = 0; /* not supported here: plain read/write from now on */
      continue;
    }
    if (!fill(1)) truncated(path);
  }
}

/* ---------- tar fields ---------- */

/* Octal (space/NUL padded) or base-256 numeric field. Returns 0, or -1 if malformed. */
static int parse_num(const unsigned char *f, size_t n, long long *out) {
  if (f[0] & 0x80) {
    unsigned char inv = (f[0] & 0x40) ? 0xff : 0;
    unsigned long long x = 0;
    for (size_t i = 0; i < n; i++) {
      unsigned char c = f[i] ^ inv;
      if (i == 0) c &= 0x7f;
      if (x >> 55) return -1;
      x = x << 8 | c;
    }
    if (x >> 63) return -1;
    *out = inv ? ~(long long)x : (long long)x;
    return 0;
  }
  size_t i = 0;
  while (i < n && (f[i] == ' ' || f[i] == 0)) i++;
  unsigned long long x = 0;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
    if (x >> 60) return -1;
    x = x * 8 + (unsigned)(f[i] - '0');
  }
  for (; i < n; i++)
    if (f[i] != ' ' && f[i] != 0) return -1;
  *out = (long long)x;
  return 0;
}

struct xattr {
  char *name;
  char *val;
  size_t len;
};

struct pax {
  int has_path, has_linkpath, has_size, has_uid, has_gid, has_mtime, has_atime;
  char *path, *linkpath;
  long long size, uid, gid;
  struct timespec mtime, atime;
  struct xattr *xa;
  size_t nxa, capxa;
};

static void pax_clear(struct pax *p) {
  free(p->path);
  free(p->linkpath);
  for (size_t i = 0; i < p->nxa; i++) {
    free(p->xa[i].name);
    free(p->xa[i].val);
  }
  free(p->xa);
  memset(p, 0, sizeof *p);
}

static int parse_dec(const char *s, long long *out) {
  int neg = 0;
  if (*s == '-') neg = 1, s++;
  if (!*s) return -1;
  unsigned long long x = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || x > (1ull << 62) / 10) return -1;
    x = x * 10 + (unsigned)(*s - '0');
  }
  *out = neg ? -(long long)x : (long long)x;
  return 0;
}

/* "SECONDS[.FRACTION]", possibly negative. */
static int parse_time(const char *s, struct timespec *ts) {
  char ip[32];
  const char *dot = strchr(s, '.');
  size_t il = dot ? (size_t)(dot - s) : strlen(s);
  if (il == 0 || il >= sizeof ip) return -1;
  memcpy(ip, s, il);
  ip[il] = 0;
  long long sec;
  if (parse_dec(ip, &sec)) return -1;
  long ns = 0;
  if (dot) {
    int digits = 0;
    for (const char *p = dot + 1; *p; p++) {
      if (*p < '0' || *p > '9') return -1;
      if (digits < 9) ns = ns * 10 + (*p - '0'), digits++;
    }
    while (digits < 9) ns *= 10, digits++;
  }
  if (s[0] == '-' && ns) sec -= 1, ns = 1000000000L - ns;
  ts->tv_sec = (time_t)sec;
  ts->tv_nsec = ns;
  return 0;
}

static void pax_set_xattr(struct pax *p, const char *name, const char *val, size_t len) {
  for (size_t i = 0; i < p->nxa; i++)
    if (!strcmp(p->xa[i].name, name)) {
      free(p->xa[i].val);
      p->xa[i].val = xstrndup(val, len);
      p->xa[i].len = len;
      return;
    }
  if (p->nxa == p->capxa) {
    p->capxa = p->capxa ? p->capxa * 2 : 8;
    struct xattr *n = realloc(p->xa, p->capxa * sizeof *n);
    if (!n) fail(NULL, "out of memory", ENOMEM);
    p->xa = n;
  }
  p->xa[p->nxa].name = strdup(name);
  p->xa[p->nxa].val = xstrndup(val, len);
  p->xa[p->nxa].len = len;
  p->nxa++;
}

static void parse_pax(struct pax *p, char *d, size_t n) {
  size_t off = 0;
  char where[64];
  snprintf(where, sizeof where, "pax header before byte %llu", in_off);
  while (off < n) {
    if (d[off] == 0) break; /* NUL padding after the last record */
    size_t len = 0, i = off;
    while (i < n && d[i] >= '0' && d[i] <= '9') {
      len = len * 10 + (size_t)(d[i] - '0');
      if (len > n) fail(where, "malformed pax record length", 0);
      i++;
    }
    if (i >= n || d[i] != ' ' || len == 0 || off + len > n || d[off + len - 1] != '\n' || i + 1 >= off + len)
      fail(where, "malformed pax record", 0);
    char *kv = d + i + 1, *end = d + off + len - 1;
    char *eq = memchr(kv, '=', (size_t)(end - kv));
    if (!eq) fail(where, "malformed pax record (no '=')", 0);
    *eq = 0;
    *end = 0;
    const char *key = kv, *val = eq + 1;
    size_t vlen = (size_t)(end - val);
    int empty = vlen == 0;
    long long v;
    if (!strcmp(key, "path")) {
      free(p->path);
      p->path = empty ? NULL : xstrndup(val, vlen);
      p->has_path = !empty;
    } else if (!strcmp(key, "linkpath")) {
      free(p->linkpath);
      p->linkpath = empty ? NULL : xstrndup(val, vlen);
      p->has_linkpath = !empty;
    } else if (!strcmp(key, "size") || !strcmp(key, "uid") || !strcmp(key, "gid")) {
      if (!empty && (parse_dec(val, &v) || v < 0)) fail(where, "malformed pax number", 0);
      if (key[0] == 's') p->size = v, p->has_size = !empty;
      else if (key[0] == 'u') p->uid = v, p->has_uid = !empty;
      else p->gid = v, p->has_gid = !empty;
    } else if (!strcmp(key, "mtime") || !strcmp(key, "atime")) {
      struct timespec ts = {0, 0};
      if (!empty && parse_time(val, &ts)) fail(where, "malformed pax time", 0);
      if (key[0] == 'm') p->mtime = ts, p->has_mtime = !empty;
      else p->atime = ts, p->has_atime = !empty;
    } else if (!strncmp(key, "SCHILY.xattr.", 13) && key[13]) {
      pax_set_xattr(p, key + 13, val, vlen);
    } else if (!strncmp(key, "GNU.sparse.", 11)) {
      fail(where, "GNU sparse files are not supported", 0);
    }
    off += len;
  }
}

/* ---------- parent directory cache ---------- */

struct pslot {
  char *path;
  size_t len;
  int fd;
  int sgid;
  gid_t gid;
  unsigned long use;
};
static struct pslot cache[NCACHE + 1]; /* [NCACHE] is DEST itself */
static unsigned long use_clock;
static int cur_slot = -1, cur_drop;

static void cache_init(void) {
  for (int i = 0; i < NCACHE; i++) cache[i].fd = -1;
  struct stat st;
  if (fstat(rootfd, &st) < 0) fail(".", "stat destination", errno);
  cache[NCACHE] = (struct pslot){.path = (char *)"", .len = 0, .fd = rootfd,
                                 .sgid = !!(st.st_mode & S_ISGID), .gid = st.st_gid};
}

static void slot_close(int i) {
  if (i == NCACHE || cache[i].fd < 0) return;
  close(cache[i].fd);
  free(cache[i].path);
  cache[i].fd = -1;
  cache[i].path = NULL;
}

/* Something that a cached path may go through changed: forget them all. */
static void cache_reset(void) {
  for (int i = 0; i < NCACHE; i++) {
    if (i == cur_slot) cur_drop = 1;
    else slot_close(i);
  }
  struct stat st;
  if (fstat(rootfd, &st) == 0) cache[NCACHE].sgid = !!(st.st_mode & S_ISGID), cache[NCACHE].gid = st.st_gid;
}

static void entry_done(void) {
  if (cur_drop && cur_slot >= 0) slot_close(cur_slot);
  cur_drop = 0;
  cur_slot = -1;
}

static int open_in_root(const char *p, int flags) {
  struct tspod_open_how how = {.flags = (uint64_t)flags | O_CLOEXEC, .mode = 0, .resolve = RES};
  for (int i = 0;; i++) {
    long r = syscall(SYS_openat2, rootfd, p, &how, sizeof how);
    if (r >= 0) return (int)r;
    if (errno == ENOSYS) fail(p, "openat2 (needs Linux >= 5.6)", errno);
    if ((errno != EAGAIN && errno != EINTR) || i > 100) return -1;
  }
}

/* Resolve directory p (normalised, non-empty) inside DEST; create missing
 * components (0755) when `create`. Returns an O_PATH fd or -1 (ENOENT only
 * when !create); other failures are fatal. */
static int resolve_dir(const char *p, const char *entry, int create) {
  int fd = open_in_root(p, O_PATH | O_DIRECTORY);
  if (fd >= 0) return fd;
  if (errno != ENOENT) fail(entry, "resolve parent directory inside the layer", errno);
  if (!create) return -1;
  char *tmp = strdup(p);
  if (!tmp) fail(entry, "out of memory", ENOMEM);
  size_t n = strlen(tmp);
  int prev = rootfd;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && tmp[i] != '/') continue;
    char save = tmp[i];
    tmp[i] = 0;
    int f = open_in_root(tmp, O_PATH | O_DIRECTORY);
    if (f < 0 && errno == ENOENT) {
      const char *comp = strrchr(tmp, '/');
      comp = comp ? comp + 1 : tmp;
      if (mkdirat(prev, comp, 0755) < 0 && errno != EEXIST) fail(entry, "create parent directory", errno);
      f = open_in_root(tmp, O_PATH | O_DIRECTORY);
    }
    if (f < 0) fail(entry, "resolve parent directory inside the layer", errno);
    if (prev != rootfd) close(prev);
    prev = f;
    tmp[i] = save;
  }
  free(tmp);
  return prev;
}

/* Slot of the parent directory p[0..len) (normalised). -1 if missing and !create. */
static int get_parent(const char *p, size_t len, const char *entry, int create) {
  if (len == 0) return cur_slot = NCACHE;
  if (cur_slot >= 0 && cur_slot != NCACHE && cache[cur_slot].fd >= 0 && cache[cur_slot].len == len &&
      !memcmp(cache[cur_slot].path, p, len)) {
    cache[cur_slot].use = ++use_clock;
    return cur_slot;
  }
  int victim = 0;
  for (int i = 0; i < NCACHE; i++) {
    if (cache[i].fd >= 0 && cache[i].len == len && !memcmp(cache[i].path, p, len)) {
      cache[i].use = ++use_clock;
      return cur_slot = i;
    }
    if (cache[victim].fd >= 0 && (cache[i].fd < 0 || cache[i].use < cache[victim].use)) victim = i;
  }
  char *path = xstrndup(p, len);
  int fd = resolve_dir(path, entry, create);
  if (fd < 0) {
    free(path);
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) fail(entry, "stat parent directory", errno);
  slot_close(victim);
  cache[victim] = (struct pslot){.path = path, .len = len, .fd = fd, .sgid = !!(st.st_mode & S_ISGID),
                                 .gid = st.st_gid, .use = ++use_clock};
  return cur_slot = victim;
}

/* ---------- directory times, set at the end ---------- */

struct dtime {
  char *path;
  struct timespec ts[2];
};
static struct dtime *dts;
static size_t ndts, capdts;

static void dtime_add(const char *path, const struct timespec ts[2]) {
  if (ndts == capdts) {
    capdts = capdts ? capdts * 2 : 256;
    struct dtime *n = realloc(dts, capdts * sizeof *n);
    if (!n) fail(path, "out of memory", ENOMEM);
    dts = n;
  }
  dts[ndts].path = strdup(path);
  dts[ndts].ts[0] = ts[0];
  dts[ndts].ts[1] = ts[1];
  ndts++;
}

static void dtime_forget(const char *path) {
  for (size_t i = 0; i < ndts; i++)
    if (dts[i].path && !strcmp(dts[i].path, path)) {
      free(dts[i].path);
      dts[i].path = NULL;
    }
}

static void dtime_apply(void) {
  for (size_t i = 0; i < ndts; i++) {
    char *p = dts[i].path;
    if (!p) continue;
    char *slash = strrchr(p, '/');
    const char *name = slash ? slash + 1 : p;
    int s = get_parent(p, slash ? (size_t)(slash - p) : 0, p, 0);
    if (s >= 0 && utimensat(cache[s].fd, name, dts[i].ts, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
      fail(p, "set directory times", errno);
    entry_done();
    free(p);
  }
  free(dts);
}

/* ---------- applying entries ---------- */

struct entry {
  char *path;     /* as in the archive (for messages) */
  char *norm;     /* normalised: no leading '/', no empty or '.' components */
  const char *link;
  char type;
  unsigned mode;
  long long uid, gid, size;
  long long devmajor, devminor;
  struct timespec ts[2]; /* atime, mtime */
  struct pax *g, *x;     /* xattrs: global, then local */
};

/* Drop leading '/', empty and '.' components, and trailing '/'. In place. */
static void norm_path(char *s) {
  char *w = s;
  const char *r = s;
  while (*r) {
    while (*r == '/') r++;
    const char *c = r;
    while (*r && *r != '/') r++;
    size_t l = (size_t)(r - c);
    if (l == 0 || (l == 1 && c[0] == '.')) continue;
    if (w != s) *w++ = '/';
    memmove(w, c, l);
    w += l;
  }
  *w = 0;
}

static int skip_xattr_name(const char *n) {
  /* overlay's own attributes in a layer could forge whiteouts/redirects: not taken from a tar */
  return !strncmp(n, "trusted.overlay.", 16) || !strncmp(n, "user.overlay.", 13);
}

/* A default ACL from the layer makes new inodes' modes differ from the ones
 * asked for: from then on, modes are always set explicitly. */
static int acl_seen;

/* fd >= 0: use it; else the last component `name` in pfd (never followed). */
static void apply_xattrs(const struct entry *e, int fd, int pfd, const char *name) {
  const struct pax *sets[2] = {e->g, e->x};
  char proc[64 + 256];
  int have_proc = 0;
  for (int s = 0; s < 2; s++) {
    for (size_t i = 0; i < sets[s]->nxa; i++) {
      const struct xattr *xa = &sets[s]->xa[i];
      if (skip_xattr_name(xa->name)) {
        cnt.skipped_xattrs++;
        continue;
      }
      int r;
      if (fd >= 0) r = fsetxattr(fd, xa->name, xa->val, xa->len, 0);
      else {
        if (!have_proc) snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", pfd, name), have_proc = 1;
        r = lsetxattr(proc, xa->name, xa->val, xa->len, 0);
      }
      if (r < 0) cnt.skipped_xattrs++;
      else if (!strcmp(xa->name, "system.posix_acl_default")) acl_seen = 1;
    }
  }
}

static int has_xattrs(const struct entry *e) { return e->g->nxa || e->x->nxa; }

/* With the user's subordinate ids (--uidmap/--gidmap): an owner outside them is
 * an error, as in Podman; squashing it to root could, say, turn a setuid binary
 * of an unprivileged user into a setuid-root one. Without (a single-id map),
 * every owner but root is squashed and counted, as documented. */
static int ids_strict;

__attribute__((noreturn)) static void unmapped(const struct entry *e) {
  char what[200];
  snprintf(what, sizeof what,
           "owner %lld:%lld is outside the user namespace's ids: the user's ranges in /etc/subuid and /etc/subgid are too small for this image",
           e->uid, e->gid);
  fail(e->path, what, 0);
}

/* Owner: skip the call when a fresh inode already has it. init_uid < 0: unknown. */
static void set_owner(const struct entry *e, int fd, int pfd, const char *name, long long init_uid,
                      long long init_gid) {
  if (e->uid == init_uid && e->gid == init_gid) return;
  if (e->uid < 0 || e->gid < 0 || e->uid >= 0xffffffffLL || e->gid >= 0xffffffffLL) {
    if (ids_strict) unmapped(e);
    cnt.squashed++;
    return;
  }
  int r = fd >= 0 ? fchown(fd, (uid_t)e->uid, (gid_t)e->gid)
                  : fchownat(pfd, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW);
  if (r < 0) {
    if (errno == EINVAL && ids_strict) unmapped(e);
    if (errno == EINVAL || (errno == EPERM && !real_root)) cnt.squashed++;
    else fail(e->path, "chown", errno);
  }
}

/* An entry exists where we create: keep it (dir over dir: returns 1) or remove it (0). */
static int make_room(const struct entry *e, int pfd, const char *name, int want_dir) {
  struct stat st;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) fail(e->path, "stat existing entry", errno);
  if (S_ISDIR(st.st_mode)) {
    cache_reset(); /* its mode (setgid) may change, or it goes away */
    if (want_dir) return 1;
    if (unlinkat(pfd, name, AT_REMOVEDIR) < 0) fail(e->path, "replace existing directory", errno);
    dtime_forget(e->norm);
  } else {
    if (S_ISLNK(st.st_mode)) cache_reset();
    if (unlinkat(pfd, name, 0) < 0) fail(e->path, "replace existing entry", errno);
  }
  return 0;
}

static int data_consumed; /* set when an entry's data went into a file */

static void do_regular(const struct entry *e, struct pslot *ps, const char *name) {
  int pfd = ps->fd;
  int fd;
  for (;;) {
    fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e->mode & 0777);
    if (fd >= 0) break;
    if (errno != EEXIST) fail(e->path, "create file", errno);
    make_room(e, pfd, name, 0);
  }
  copy_data(fd, (unsigned long long)e->size, e->path);
  data_consumed = 1;
  cnt.bytes += (unsigned long long)e->size;
  set_owner(e, fd, -1, NULL, my_uid, ps->sgid ? ps->gid : my_gid);
  if ((e->mode & 07000 || acl_seen) && fchmod(fd, e->mode & 07777) < 0) fail(e->path, "chmod", errno);
  if (has_xattrs(e)) apply_xattrs(e, fd, -1, NULL);
  if (futimens(fd, e->ts) < 0) fail(e->path, "set times", errno);
  if (close(fd) < 0) fail(e->path, "close", errno);
}

static void do_dir(const struct entry *e, struct pslot *ps, const char *name) {
  int pfd = ps->fd, existing = 0;
  while (mkdirat(pfd, name, e->mode & 01777) < 0) {
    if (errno != EEXIST) fail(e->path, "create directory", errno);
    if (make_room(e, pfd, name, 1)) {
      existing = 1;
      break;
    }
  }
  long long iu = existing ? -1LL : (long long)my_uid;
  long long ig = existing ? -1LL : (long long)(ps->sgid ? ps->gid : my_gid);
  int need_chmod = existing || (e->mode & 06000) || ps->sgid || acl_seen;
  if (need_chmod || e->uid != iu || e->gid != ig || has_xattrs(e)) {
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail(e->path, "open directory", errno);
    set_owner(e, fd, -1, NULL, iu, ig);
    if (need_chmod && fchmod(fd, e->mode & 07777) < 0) fail(e->path, "chmod", errno);
    if (has_xattrs(e)) apply_xattrs(e, fd, -1, NULL);
    close(fd);
  }
  dtime_add(e->norm, e->ts);
}

/* Symlinks, fifos, devices: metadata through the parent, never following name. */
static void meta_at(const struct entry *e, struct pslot *ps, const char *name, int is_link) {
  set_owner(e, -1, ps->fd, name, my_uid, ps->sgid ? ps->gid : my_gid);
  if (!is_link && (e->mode & 07000 || acl_seen) && fchmodat(ps->fd, name, e->mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
    fail(e->path, "chmod", errno);
  if (has_xattrs(e)) apply_xattrs(e, -1, ps->fd, name);
  if (utimensat(ps->fd, name, e->ts, AT_SYMLINK_NOFOLLOW) < 0) fail(e->path, "set times", errno);
}

static void do_symlink(const struct entry *e, struct pslot *ps, const char *name) {
  while (symlinkat(e->link, ps->fd, name) < 0) {
    if (errno != EEXIST) fail(e->path, "create symlink", errno);
    make_room(e, ps->fd, name, 0);
  }
  meta_at(e, ps, name, 1);
}

static void do_node(const struct entry *e, struct pslot *ps, const char *name) {
  mode_t fmt = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
  dev_t dev = fmt == S_IFIFO ? 0 : makedev((unsigned)e->devmajor, (unsigned)e->devminor);
  while (mknodat(ps->fd, name, fmt | (e->mode & 0777), dev) < 0) {
    if (errno == EEXIST) {
      make_room(e, ps->fd, name, 0);
      continue;
    }
    if (fmt != S_IFIFO && (errno == EPERM || errno == EACCES)) {
      cnt.skipped_devices++;
      return;
    }
    fail(e->path, fmt == S_IFIFO ? "create fifo" : "create device node", errno);
  }
  meta_at(e, ps, name, 0);
}

static void do_hardlink(const struct entry *e, struct pslot *ps, const char *name) {
  char *t = strdup(e->link);
  if (!t) fail(e->path, "out of memory", ENOMEM);
  norm_path(t);
  int tfd = open_in_root(*t ? t : ".", O_PATH | O_NOFOLLOW);
  if (tfd < 0) fail(e->path, "resolve hard link target inside the layer", errno);
  free(t);
  struct stat tst;
  if (fstat(tfd, &tst) < 0) fail(e->path, "stat hard link target", errno);
  if (S_ISDIR(tst.st_mode)) fail(e->path, "hard link to a directory refused", 0);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", tfd);
  while (linkat(AT_FDCWD, proc, ps->fd, name, AT_SYMLINK_FOLLOW) < 0) {
    if (errno != EEXIST) fail(e->path, "create hard link", errno);
    struct stat st;
    if (fstatat(ps->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
        st.st_ino == tst.st_ino)
      break; /* already that inode */
    make_room(e, ps->fd, name, 0);
  }
  close(tfd);
}

static void do_whiteout(const struct entry *e, struct pslot *ps, const char *marker) {
  const char *target = marker + 4;
  for (;;) {
    if (mknodat(ps->fd, target, S_IFCHR, makedev(0, 0)) == 0) break;
    if (errno == EEXIST) {
      make_room(e, ps->fd, target, 0);
      continue;
    }
    if (errno != EPERM) fail(e->path, "create whiteout", errno);
    /* No whiteout devices here (old kernel in a user namespace): leave a
     * `.wh.NAME` file, which fuse-overlayfs reads as a whiteout too. */
    int fd = openat(ps->fd, marker, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) fail(e->path, "create whiteout file", errno);
    close(fd);
    return;
  }
  if ((my_uid != 0 || (ps->sgid ? ps->gid : my_gid) != 0) && fchownat(ps->fd, target, 0, 0, AT_SYMLINK_NOFOLLOW) < 0)
    fail(e->path, "chown whiteout", errno);
}

static void do_opaque(const struct entry *e, struct pslot *ps) {
  int fd = openat(ps->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(e->path, "open opaque directory", errno);
  int ok = fsetxattr(fd, "user.overlay.opaque", "y", 1, 0) == 0;
  int err = errno;
  if (real_root) ok |= fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) == 0;
  close(fd);
  if (!ok) fail(e->path, "set user.overlay.opaque", err);
}

static void apply_entry(struct entry *e) {
  char *norm = e->norm;
  if (!*norm) return; /* "." or "/" or empty: the layer root itself */
  char *slash = strrchr(norm, '/');
  const char *name = slash ? slash + 1 : norm;
  size_t plen = slash ? (size_t)(slash - norm) : 0;
  if (!strcmp(name, "..")) goto skip;
  /* aufs metadata (`.wh..wh.plnk/...`, `.wh..wh.aufs`): not part of the image's tree */
  if (!strncmp(norm, ".wh..wh.", 8) && strcmp(norm, ".wh..wh..opq")) goto skip;
  if (!strncmp(name, ".wh.", 4)) {
    if (!strcmp(name, ".wh..wh..opq")) {
      struct pslot *ps = &cache[get_parent(norm, plen, e->path, 1)];
      do_opaque(e, ps);
    } else if (!strncmp(name, ".wh..wh.", 8) || !strcmp(name + 4, ".") || !strcmp(name + 4, "..") || !name[4]) {
      goto skip;
    } else {
      struct pslot *ps = &cache[get_parent(norm, plen, e->path, 1)];
      do_whiteout(e, ps, name);
    }
    return;
  }
  struct pslot *ps = &cache[get_parent(norm, plen, e->path, 1)];
  switch (e->type) {
  case '0': case 0: case '7': do_regular(e, ps, name); return;
  case '5': do_dir(e, ps, name); return;
  case '2': do_symlink(e, ps, name); return;
  case '1': do_hardlink(e, ps, name); return;
  case '3': case '4': case '6': do_node(e, ps, name); return;
  }
skip:
  cnt.skipped_other++;
}

/* ---------- the archive loop ---------- */

static int is_zero_block(const unsigned char *h) {
  for (int i = 0; i < 512; i++)
    if (h[i]) return 0;
  return 1;
}

static void check_sum(const unsigned char *h) {
  long long want;
  unsigned long su = 0;
  long ss = 0;
  for (int i = 0; i < 512; i++) {
    unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
    su += c;
    ss += (signed char)c;
  }
  if (parse_num(h + 148, 8, &want) == 0 && ((unsigned long)want == su || want == ss)) return;
  char where[64];
  snprintf(where, sizeof where, "header at byte %llu", in_off);
  fail(where, "bad tar header checksum (corrupt or not a tar stream)", 0);
}

static char *read_meta(long long size, const char *what) {
  char where[64];
  snprintf(where, sizeof where, "%s header at byte %llu", what, in_off);
  if (size < 0 || (unsigned long long)size > META_MAX) fail(where, "extended header too large", 0);
  char *d = xmalloc((size_t)size + 1);
  read_exact(d, (size_t)size, where);
  d[size] = 0;
  skip_bytes(pad512((unsigned long long)size), where);
  return d;
}

static void field(const unsigned char *h, int off, int n, long long *v, const char *what) {
  if (parse_num(h + off, (size_t)n, v) == 0) return;
  char where[64];
  snprintf(where, sizeof where, "header at byte %llu", in_off);
  char msg[64];
  snprintf(msg, sizeof msg, "malformed %s field", what);
  fail(where, msg, 0);
}

static void unpack_stream(void) {
  struct pax g = {0}, x = {0};
  char *gnu_name = NULL, *gnu_link = NULL;
  int pending = 0; /* a pax or GNU long-name header waits for its entry */
  for (;;) {
    size_t a = fill(512);
    if (a == 0) {
      /* The end, at a header boundary, without the two zero blocks: the end of the
       * archive, as Go's archive/tar (Podman) and GNU tar read it; an empty input
       * is an empty layer. Not after a header that announces an entry. */
      if (pending) truncated(NULL);
      break;
    }
    if (a < 512) truncated(NULL);
    unsigned char h[512];
    memcpy(h, ibuf + ipos, 512);
    if (is_zero_block(h)) {
      consume(512);
      break;
    }
    check_sum(h);
    consume(512);
    char type = (char)h[156];
    long long size, v;
    field(h, 124, 12, &size, "size");
    if (type == 'x' || type == 'g') {
      char *d = read_meta(size, "pax");
      parse_pax(type == 'x' ? &x : &g, d, (size_t)size);
      free(d);
      pending |= type == 'x';
      continue;
    }
    if (type == 'L' || type == 'K') {
      char *d = read_meta(size, "GNU long name");
      d[strnlen(d, (size_t)size)] = 0;
      if (type == 'L') free(gnu_name), gnu_name = d;
      else free(gnu_link), gnu_link = d;
      pending = 1;
      continue;
    }
    pending = 0;
    struct entry e = {0};
    e.type = type;
    e.g = &g;
    e.x = &x;
    /* name */
    char hname[256 + 2];
    size_t nl = strnlen((char *)h, 100);
    int posix = !memcmp(h + 257, "ustar\0", 6);
    if (posix && h[345]) {
      size_t pl = strnlen((char *)h + 345, 155);
      memcpy(hname, h + 345, pl);
      hname[pl] = '/';
      memcpy(hname + pl + 1, h, nl);
      hname[pl + 1 + nl] = 0;
    } else {
      memcpy(hname, h, nl);
      hname[nl] = 0;
    }
    const char *name = x.has_path ? x.path : g.has_path ? g.path : gnu_name ? gnu_name : hname;
    char hlink[101];
    size_t ll = strnlen((char *)h + 157, 100);
    memcpy(hlink, h + 157, ll);
    hlink[ll] = 0;
    e.link = x.has_linkpath ? x.linkpath : g.has_linkpath ? g.linkpath : gnu_link ? gnu_link : hlink;
    e.path = strdup(name);
    e.norm = strdup(name);
    if (!e.path || !e.norm) fail(name, "out of memory", ENOMEM);
    norm_path(e.norm);
    field(h, 100, 8, &v, "mode");
    e.mode = (unsigned)v & 07777;
    field(h, 108, 8, &e.uid, "uid");
    field(h, 116, 8, &e.gid, "gid");
    field(h, 136, 12, &v, "mtime");
    e.ts[1].tv_sec = (time_t)v;
    if (type == '3' || type == '4') {
      field(h, 329, 8, &e.devmajor, "devmajor");
      field(h, 337, 8, &e.devminor, "devminor");
    }
    if (x.has_size) size = x.size;
    else if (g.has_size) size = g.size;
    if (x.has_uid) e.uid = x.uid;
    else if (g.has_uid) e.uid = g.uid;
    if (x.has_gid) e.gid = x.gid;
    else if (g.has_gid) e.gid = g.gid;
    if (x.has_mtime) e.ts[1] = x.mtime;
    else if (g.has_mtime) e.ts[1] = g.mtime;
    e.ts[0] = x.has_atime ? x.atime : g.has_atime ? g.atime : e.ts[1];
    if (size < 0) fail(name, "negative size", 0);
    /* header-only types carry no data whatever their size field says (as Go's archive/tar) */
    int header_only = type == '1' || type == '2' || type == '3' || type == '4' || type == '5' || type == '6';
    long long data_len = header_only ? 0 : size; /* bytes following the header */
    e.size = data_len;
    /* old archives: a "regular" entry whose name ends in '/' is a directory */
    if ((type == '0' || type == 0) && *name && name[strlen(name) - 1] == '/') e.type = '5', e.size = 0;
    cnt.entries++;
    if (type == 'S') {
      /* GNU sparse: not applied; skip its extension headers and data */
      int ext = h[482];
      while (ext) {
        unsigned char b[512];
        read_exact(b, 512, name);
        ext = b[504];
      }
    }
    data_consumed = 0;
    apply_entry(&e);
    entry_done();
    /* data not written to a file (whiteout markers, unknown types...), then padding */
    if (!data_consumed) skip_bytes((unsigned long long)data_len, name);
    skip_bytes(pad512((unsigned long long)data_len), name);
    free(e.path);
    free(e.norm);
    pax_clear(&x);
    free(gnu_name);
    free(gnu_link);
    gnu_name = gnu_link = NULL;
  }
  pax_clear(&g);
  free(gnu_name);
  free(gnu_link);
  /* drain the rest (trailing zero blocks, blocking padding) so the writer finishes cleanly */
  ipos = ilen = 0;
  while (fill(1)) ipos = ilen = 0;
}

static int apply(void) {
  umask(0);
  my_uid = geteuid();
  my_gid = getegid();
  struct stat st;
  if (fstat(0, &st) == 0) {
    in_pipe = S_ISFIFO(st.st_mode);
    in_reg = S_ISREG(st.st_mode);
  }
  ibuf = big_alloc(BUFSZ);
  if (in_pipe) fcntl(0, F_SETPIPE_SZ, BUFSZ); /* fewer wake-ups; fine if refused */
  int fl = fcntl(0, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(0, F_SETFL, fl & ~O_NONBLOCK);
  cache_init();
  rt_trace("unpacking");
  if (in_kind != IN_RAW) producer_start();
  unpack_stream();
  dtime_apply();
  rt_trace("unpacked");
  printf("{\"entries\":%llu,\"bytes\":%llu,\"squashed\":%llu,\"skipped_devices\":%llu,\"skipped_xattrs\":%llu,"
         "\"skipped_other\":%llu",
         cnt.entries, cnt.bytes, cnt.squashed, cnt.skipped_devices, cnt.skipped_xattrs, cnt.skipped_other);
  if (in_kind != IN_RAW) {
    pthread_mutex_lock(&q_mu);
    while (!producer_done) pthread_cond_wait(&q_cv, &q_mu);
    pthread_mutex_unlock(&q_mu);
    char hex[65];
    sha256_hex(&tar_hash, hex);
    if (blob_fd >= 0 && close(blob_fd) < 0) fail(NULL, "write blob file", errno);
    printf(",\"diff_id\":\"sha256:%s\",\"tar_bytes\":%llu,\"input_bytes\":%llu,\"input\":\"%s\"", hex, tar_total,
           raw_total, in_names[in_kind]);
  }
  printf("}\n");
  if (fflush(stdout) != 0) fail(NULL, "write result", errno);
  return 0;
}

int cmd_unpack(int argc, char **argv) {
  const char *uidmap = NULL, *gidmap = NULL, *dest = NULL, *input = NULL, *blob = NULL, *keep = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--uidmap") && i + 1 < argc) uidmap = argv[++i];
    else if (!strcmp(argv[i], "--gidmap") && i + 1 < argc) gidmap = argv[++i];
    else if (!strcmp(argv[i], "--input") && i + 1 < argc) input = argv[++i];
    else if (!strcmp(argv[i], "--blob") && i + 1 < argc) blob = argv[++i];
    else if (!strcmp(argv[i], "--keep-userns") && i + 1 < argc) keep = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1]) dest = NULL, i = argc + 1;
    else if (!dest) dest = argv[i];
    else dest = NULL, i = argc + 1;
  }
  if (!dest || !uidmap != !gidmap || (blob && !input)) {
    dprintf(2, "usage: tspod-rt unpack [--uidmap SPEC --gidmap SPEC [--keep-userns FILE]] [--input tar|gzip|zstd|auto [--blob FILE]] DEST < layer\n");
    return 125;
  }
  /* tests: a helper that dies before it reads anything, or after 1 MiB (what the CLI says then) */
  const char *fp = getenv("TSPOD_RT_FAILPOINT");
  if (fp && !strcmp(fp, "unpack-dies")) _exit(3);
  if (fp && !strcmp(fp, "unpack-dies-midway")) die_after = 1u << 20;
  input_init(input);
  ids_strict = uidmap != NULL;
  /* Made here, outside any user namespace: the blob file belongs to the caller. */
  if (blob && (blob_fd = open(blob, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) fail(blob, "create blob file", errno);
  rt_trace("start");
  rootfd = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail(dest, "open destination directory", errno);
  if (!uidmap && geteuid() == 0) {
    real_root = 1;
    return apply();
  }
  if (uidmap && keep) {
    /* the kept namespace (idmap.c): joined in this process, no child */
    char msg[512] = "";
    if (enter_kept_userns(uidmap, gidmap, keep, msg, sizeof msg) < 0) {
      char what[600];
      snprintf(what, sizeof what, "map user namespace ids: %s", msg[0] ? msg : "newuidmap/newgidmap failed");
      fail(dest, what, 0);
    }
    rt_trace("in user namespace");
    return apply();
  }
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) fail(dest, "pipe", errno);
  fflush(stdout);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) fail(dest, "fork", errno);
  if (pid == 0) {
    close(ready[0]);
    close(go[1]);
    /* killed with the parent (the CLI kills only the process it started) */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(1);
    int err = unshare(CLONE_NEWUSER) < 0 ? errno : 0;
    if (write(ready[1], &err, sizeof err) != (ssize_t)sizeof err || err) _exit(1);
    close(ready[1]);
    char c = 0;
    if (read(go[0], &c, 1) != 1 || c != 'g') _exit(1);
    close(go[0]);
    _exit(apply());
  }
  close(ready[1]);
  close(go[0]);
  int err = 0;
  if (read(ready[0], &err, sizeof err) != (ssize_t)sizeof err) err = ECHILD;
  close(ready[0]);
  if (err) {
    waitpid(pid, NULL, 0);
    fail(dest, "create user namespace", err);
  }
  if (uidmap) {
    char msg[512];
    if (map_ids(pid, uidmap, gidmap, msg, sizeof msg) < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      char what[600];
      snprintf(what, sizeof what, "map user namespace ids: %s", msg[0] ? msg : "newuidmap/newgidmap failed");
      fail(dest, what, 0);
    }
  } else {
    int r = write_single_maps(pid, getuid(), getgid());
    if (r < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      fail(dest, "write single-id map", -r);
    }
  }
  if (write(go[1], "g", 1) != 1) fail(dest, "start unpack child", errno);
  close(go[1]);
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) fail(dest, "wait for unpack child", errno);
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  char what[64];
  snprintf(what, sizeof what, "unpack child killed by signal %d", WTERMSIG(st));
  fail(dest, what, 0);
}
