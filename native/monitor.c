/*
 * tspod-rt monitor: one small process per container, like conmon.
 *
 *   tspod-rt monitor --spec SPECFILE --dir CTRDIR --sock SOCKPATH --log LOGPATH
 *                    [--tty] [--stdin] [--start-now] [--stall-ms N] [--join-pid PID]
 *                    [--trash PATH] [--exit-cmd ARG...]
 *
 * The invoked process forks; the child calls setsid() and forks the monitor,
 * then exits. The invoker waits on a readiness pipe, prints one JSON line
 * ({"pid":P,"monitor_pid":M} or {"error":..,"errno":..,"stage":..}) and exits
 * 0 or 125, so the CLI may exit or be killed at any time afterwards.
 *
 * The monitor is a child subreaper in its own session. It holds the pty master
 * (the container makes the pty in its own devpts and sends the master, as crun
 * does for conmon) or the stdio pipes, writes the container's output to LOGPATH
 * in k8s-file format, serves attach clients on SOCKPATH, keeps the container behind a
 * start gate until START (or --start-now), records CTRDIR/exit.json, runs
 * --exit-cmd (or, when the CLI has already renamed CTRDIR to --trash, deletes
 * that itself) and exits. Everything is static buffers: no allocation.
 *
 * Network (see net.c): with net.helper in the spec, the monitor checks the
 * published host ports are free, starts pasta (right after the clone) or
 * slirp4netns (once the id map is written) for the new network namespace,
 * and opens the start gate only when both START and the network are there.
 * It kills the helper when the container ends, and with published ports waits
 * for it before it records the exit, so the ports are free once exit.json says
 * the container exited. A port in use or a helper that fails is a start error
 * (stage "network", exit 125) with nothing left running. With net.lazy, pasta
 * starts instead at the container's first socket (lend.c) or a client's 'N'
 * (a container about to join this network): the gate does not wait for it,
 * and a pasta that fails then leaves the container with its loopback only
 * (told to attached clients, 'W'), to be tried again at a later socket.
 * --join-pid PID: the
 * spec's netns=join (and, rootless, the user namespace) are PID's
 * (container:ID, pod members).
 *
 * Attach frames, both ways: 1 byte type, 4 bytes big-endian length, payload.
 *   client -> monitor: 'i' stdin bytes, 'e' stdin EOF, 'r' resize (rows u16, cols u16),
 *                      's' START, 'd' detach, 'n' a filter's fd (lend.c; exec), 'N' network wanted
 *   monitor -> client: 'o' stdout, 'E' stderr, 'x' exit code (u32), 'X' "ERRNO:message",
 *                      'N' the network is up, 'W' a warning for the user
 * Output flow control: while a client has not taken the last chunk, the monitor
 * reads no more output (the container blocks on a full pipe like on a slow
 * terminal, and nothing is lost for a live client); a client that takes
 * nothing for --stall-ms (default 5000; 0 = at once) is dropped, a closed
 * client is dropped at once, so a slow or dead client cannot hold the container.
 */
#include "common.h"
#include "kernel.h"
#include "lend.h"
#include "sealed.h"
#include "spec.h"
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#define MAX_CLIENTS 16
#define CHUNK 65536          /* one read of container output */
#define LOG_LINE_MAX 16384   /* longer lines are split into P records */
#define DRAIN_IDLE_MS 250    /* after exit: stop draining when no output came for this long */
#define DRAIN_MAX_MS 5000    /* ... or after this long (a background process may hold the fds) */
#define LINGER_MS 1000       /* after 'x': wait this long for clients to hang up */
#define START_WAIT_MS 5000   /* START must come this soon when no client is connected */
#define DEFAULT_STALL_MS 5000

/* ---- options and state ---- */

static struct {
  const char *spec, *dir, *sock, *log, *trash;
  int tty, stdin_open, start_now;
  long stall_ms;
  long join_pid;
  char **exit_cmd;
} O;

static char p_spec[4096], p_dir[4096], p_sock[4096], p_log[4096], p_trash[4096], p_netns[64], p_userns[64];
static struct spec g_spec;

static int g_dirfd = -1;
static int g_ready_fd = -1;            /* readiness pipe (write end) until reported */
static int g_sigpipe[2] = {-1, -1};    /* SIGCHLD self-pipe */
static int g_listen = -1;
static int g_logfd = -1;
static long long g_born_ms;             /* when the monitor started (for START_WAIT_MS) */
static int g_gate = -1;                /* start gate (write end) until opened */
static int g_execerr = -1;             /* exec error pipe from ctr_spawn */
static int g_master = -1;              /* pty master (tty mode) */
static int g_stdin = -1;               /* where client stdin goes: master or pipe, -1 = discard */
static int g_stdin_blocked;
static pid_t g_ctr = -1;

static int g_exited, g_status, g_final;
static struct timespec g_exit_ts;
static long long g_exit_ms, g_drain_idle, g_linger_until;
static int g_start_errno;              /* != 0 once the start failed */
static char g_start_msg[512];
static const char *g_end_reason; /* why the monitor ended the container itself (exit.json's "reason") */
static int g_engine_failed;            /* tspod's part failed before the container ran (its network): exit.json says 125 */
static int g_ready_pending;            /* --start-now: report after the exec result */
static int g_start_wanted;             /* START came (or --start-now): open the gate once the network is ready */
static int g_netlog = -1;              /* CTRDIR/net.log: the network helper's messages */
static int g_lendsync = -1;            /* where the container sends its bind() filter's fd (lend.c) */
static int g_joined = -1;              /* pidfd of the container whose network this one joined, with lent ports */
static int g_net_errno;                /* launching the helper failed */
static int g_lazy;                     /* net.lazy: the helper starts at the container's first socket (lend.c) */
static char g_net_err[1024];

struct stream {
  int fd;
  unsigned char type;                  /* 'o' or 'E' */
  const char *name;                    /* "stdout" or "stderr" */
};
static struct stream g_out[2] = {{-1, 'o', "stdout"}, {-1, 'E', "stderr"}};

static unsigned char g_chunk[CHUNK];

struct client {
  int fd;
  int passed_fd;                       /* an fd that came with its bytes, until its frame is handled */
  long long progress_ms;               /* last time it took bytes */
  size_t rxlen, in_left;               /* unparsed input; bytes left of an 'i' payload */
  int chunk_pending;
  size_t hdr_off, data_off, data_len;  /* unsent part of the current chunk frame */
  size_t ctl_off, ctl_len;             /* unsent control frames */
  int wants_net;                       /* 'N' came: answer 'N' once the network is up */
  unsigned char hdr[5];
  unsigned char rx[4096];
  unsigned char ctl[640];
};
static struct client g_cl[MAX_CLIENTS];

/* ---- small helpers ---- */

static void rfc3339(char *buf, size_t n, const struct timespec *t) {
  struct tm tm;
  gmtime_r(&t->tv_sec, &tm);
  snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (long)t->tv_nsec);
}

/* Diagnostics: fd 2 of the monitor is CTRDIR/monitor.log. */
__attribute__((format(printf, 1, 2))) static void mlog(const char *fmt, ...) {
  char buf[768], ts[48];
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  rfc3339(ts, sizeof ts, &t);
  int n = snprintf(buf, sizeof buf, "%s monitor[%d]: ", ts, (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t l = strlen(buf);
  buf[l++] = '\n';
  (void)!write(2, buf, l);
}

/* Writes s as a JSON string literal into out (always terminated, truncated to fit). */
static void json_esc(char *out, size_t cap, const char *s) {
  size_t o = 0;
  if (cap < 3) return;
  out[o++] = '"';
  for (; *s && o + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o++] = '"';
  out[o] = 0;
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_from(int lo, int except) {
  if (except >= lo) {
    if (except > lo && syscall(SYS_close_range, (unsigned)lo, (unsigned)except - 1, 0) < 0)
      for (int fd = lo; fd < except; fd++) close(fd);
    lo = except + 1;
  }
  if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) < 0)
    for (int fd = lo; fd < 1024; fd++) close(fd);
}

/* Makes path absolute against the current directory (the monitor chdirs to /). */
static const char *absolute(const char *path, char *buf, size_t n) {
  if (path[0] == '/') return path;
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) return path;
  if ((size_t)snprintf(buf, n, "%s/%s", cwd, path) >= n) return path;
  return buf;
}

/* Writes CTRDIR/name atomically: temp file, rename. Not fsynced, like every
   container file (record.ts): after a power loss a container is gone anyway. */
static int write_atomic(const char *name, const char *data) {
  char tmp[64];
  snprintf(tmp, sizeof tmp, ".%s.tmp", name);
  int fd = openat(g_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  int r = write_all(fd, data, strlen(data));
  close(fd);
  if (r == 0) r = renameat(g_dirfd, tmp, g_dirfd, name);
  if (r < 0) {
    mlog("write %s: %s", name, strerror(errno));
    unlinkat(g_dirfd, tmp, 0);
  }
  return r;
}

/* ---- readiness ---- */

static void report(const char *line) {
  if (g_ready_fd < 0) return;
  write_all(g_ready_fd, line, strlen(line));
  close(g_ready_fd);
  g_ready_fd = -1;
}

static void error_line(char *out, size_t n, const char *stage, int err, const char *msg) {
  char m[1100];
  json_esc(m, sizeof m, msg);
  int k = snprintf(out, n, "{\"error\":%s,\"errno\":%d,\"stage\":\"%s\"", m, err, stage);
  if (g_ctr > 0 && k > 0 && (size_t)k < n) k += snprintf(out + k, n - (size_t)k, ",\"pid\":%d,\"monitor_pid\":%d", (int)g_ctr, (int)getpid());
  if (k > 0 && (size_t)k < n) snprintf(out + k, n - (size_t)k, "}\n");
}

static void report_error(const char *stage, int err, const char *msg) {
  char line[1400];
  mlog("%s: %s (errno %d)", stage, msg, err);
  error_line(line, sizeof line, stage, err, msg);
  report(line);
}

/*
 * Started: started.json first (the monitor's own record of the run, so that a
 * CLI killed before it writes "running" leaves no running container recorded
 * as created: src/container/record.ts adopts it), then the answer.
 */
static void report_ready(void) {
  char line[160], ts[48];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  rfc3339(ts, sizeof ts, &now);
  snprintf(line, sizeof line, "{\"pid\":%d,\"monitor_pid\":%d,\"started_at\":\"%s\"}\n", (int)g_ctr, (int)getpid(), ts);
  write_atomic("started.json", line);
  report(line);
}

/* ---- log file (k8s-file) ---- */

static char g_logbuf[LOG_LINE_MAX + 96];
static size_t g_loglen;
static int g_log_failed;

static void log_flush(void) {
  if (g_loglen && write_all(g_logfd, g_logbuf, g_loglen) < 0 && !g_log_failed) {
    g_log_failed = 1;
    mlog("write log %s: %s", O.log, strerror(errno));
  }
  g_loglen = 0;
}

static void log_record(const char *ts, const char *stream, char flag, const unsigned char *p, size_t n) {
  if (g_loglen + n + 96 > sizeof g_logbuf) log_flush();
  g_loglen += (size_t)snprintf(g_logbuf + g_loglen, sizeof g_logbuf - g_loglen, "%s %s %c ", ts, stream, flag);
  memcpy(g_logbuf + g_loglen, p, n);
  g_loglen += n;
  g_logbuf[g_loglen++] = '\n';
}

/* One record per full line (F); a tail without newline, or a piece of an over-long line, is P. */
static void log_chunk(const char *stream, const unsigned char *p, size_t n) {
  char ts[48];
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  rfc3339(ts, sizeof ts, &t);
  while (n > 0) {
    size_t look = n > LOG_LINE_MAX ? LOG_LINE_MAX + 1 : n;
    const unsigned char *nl = memchr(p, '\n', look);
    size_t take, len;
    if (nl) {
      len = (size_t)(nl - p);
      take = len + 1;
      log_record(ts, stream, 'F', p, len);
    } else {
      len = take = n > LOG_LINE_MAX ? LOG_LINE_MAX : n;
      log_record(ts, stream, 'P', p, len);
    }
    p += take;
    n -= take;
  }
  log_flush();
}

/* ---- clients ---- */

static void start_requested(void);

static int client_count(void) {
  int n = 0;
  for (int i = 0; i < MAX_CLIENTS; i++) n += g_cl[i].fd >= 0;
  return n;
}

static void client_close(struct client *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  if (c->passed_fd >= 0) close(c->passed_fd);
  c->passed_fd = -1;
  /* The CLI that was to send START went away (killed, say) before it did: the
     container starts anyway, as if detached. It must never hang at the gate. */
  if (!g_start_wanted && g_gate >= 0 && client_count() == 0) {
    mlog("the attached client left before START: starting the container detached");
    start_requested();
  }
}

static int client_pending(const struct client *c) {
  return c->fd >= 0 && (c->chunk_pending || c->ctl_off < c->ctl_len);
}

static int any_pending(void) {
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (client_pending(&g_cl[i])) return 1;
  return 0;
}

/* Sends what it can without blocking; -1 when the client was closed. */
static int client_flush(struct client *c) {
  for (;;) {
    struct iovec iov[3];
    int n = 0;
    if (c->chunk_pending) {
      if (c->hdr_off < 5) iov[n++] = (struct iovec){c->hdr + c->hdr_off, 5 - c->hdr_off};
      if (c->data_off < c->data_len) iov[n++] = (struct iovec){g_chunk + c->data_off, c->data_len - c->data_off};
    }
    if (c->ctl_off < c->ctl_len) iov[n++] = (struct iovec){c->ctl + c->ctl_off, c->ctl_len - c->ctl_off};
    if (n == 0) return 0;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      client_close(c);
      return -1;
    }
    c->progress_ms = mono_ms();
    size_t left = (size_t)w, k;
    if (c->chunk_pending) {
      k = 5 - c->hdr_off < left ? 5 - c->hdr_off : left;
      c->hdr_off += k;
      left -= k;
      k = c->data_len - c->data_off < left ? c->data_len - c->data_off : left;
      c->data_off += k;
      left -= k;
      if (c->hdr_off == 5 && c->data_off == c->data_len) c->chunk_pending = 0;
    }
    c->ctl_off += left;
    if (c->ctl_off >= c->ctl_len) c->ctl_off = c->ctl_len = 0;
  }
}

static void client_ctl(struct client *c, unsigned char type, const void *payload, size_t len) {
  if (c->fd < 0) return;
  if (c->ctl_off > 0) {
    memmove(c->ctl, c->ctl + c->ctl_off, c->ctl_len - c->ctl_off);
    c->ctl_len -= c->ctl_off;
    c->ctl_off = 0;
  }
  if (c->ctl_len + 5 + len > sizeof c->ctl) {
    client_close(c);
    return;
  }
  c->ctl[c->ctl_len] = type;
  put_be32(c->ctl + c->ctl_len + 1, (uint32_t)len);
  memcpy(c->ctl + c->ctl_len + 5, payload, len);
  c->ctl_len += 5 + len;
  client_flush(c);
}

static int exit_code(void) {
  if (g_engine_failed) return 125;
  /* The container's process could not be started (its setup or its exec
     failed): as Podman says of an OCI runtime's error, 127 for a file not
     found, else 126 (cannot invoke: a bad user, a refused capability, ...). */
  if (g_start_errno) return g_start_errno == ENOENT ? 127 : 126;
  if (WIFSIGNALED(g_status)) return 128 + WTERMSIG(g_status);
  return WEXITSTATUS(g_status);
}

static void send_error_frame(struct client *c) {
  char p[sizeof g_start_msg + 16];
  int n = snprintf(p, sizeof p, "%d:%d:%s", g_start_errno, exit_code(), g_start_msg);
  if (n > 250) n = 250;
  client_ctl(c, 'X', p, (size_t)n);
}

static void send_exit_frame(struct client *c) {
  unsigned char p[4];
  put_be32(p, (uint32_t)exit_code());
  client_ctl(c, 'x', p, 4);
}

static void fanout(unsigned char type, size_t n) {
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &g_cl[i];
    if (c->fd < 0) continue;
    c->chunk_pending = 1;
    c->hdr[0] = type;
    put_be32(c->hdr + 1, (uint32_t)n);
    c->hdr_off = c->data_off = 0;
    c->data_len = n;
    c->progress_ms = mono_ms();
    client_flush(c);
  }
}

static void open_gate(void) {
  if (g_gate < 0) return;
  if (write(g_gate, "s", 1) != 1) mlog("start gate: %s", strerror(errno));
  close(g_gate);
  g_gate = -1;
}

/* START (or --start-now): the gate opens once the network is ready too. */
static void start_requested(void) {
  g_start_wanted = 1;
  if (net_state() == NET_NONE || net_state() == NET_READY) open_gate();
}

static void send_error_frame(struct client *c);

/* The network helper failed after the container was created: it goes, the reason is its start error. */
static void network_failed(int e, const char *msg) {
  if (!e || e == ENOENT || e == EACCES || e == EPERM || e == ENOEXEC) e = EIO; /* (the CLI's mapping: 125, not 126/127) */
  g_start_errno = e;
  g_engine_failed = 1;
  if (snprintf(g_start_msg, sizeof g_start_msg, "%s", msg) < 0) g_start_msg[0] = 0;
  mlog("network: %s", msg);
  if (g_gate >= 0) close(g_gate);
  g_gate = -1;
  if (g_ctr > 0 && !g_exited) kill(g_ctr, SIGKILL);
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (g_cl[i].fd >= 0) send_error_frame(&g_cl[i]);
  if (g_ready_pending) report_error("network", e, msg);
  g_ready_pending = 0;
}

static void close_ns_fds(void);

/* The network is up: the gate, the container's waiting sockets (net.lazy), the clients that asked ('N'). */
static void network_up(void) {
  mlog("network helper %s ready", g_spec.net_helper);
  if (g_start_wanted) open_gate();
  if (g_lazy) {
    close_ns_fds(); /* (kept for another try until now) */
    lend_net_up(1);
    /* an exec from now on needs no filter of the network's (exec.c) */
    int fd = openat(g_dirfd, "net.up", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
  }
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (g_cl[i].fd >= 0 && g_cl[i].wants_net) {
      g_cl[i].wants_net = 0;
      client_ctl(&g_cl[i], 'N', "", 0);
    }
}

/* 'X' "ERRNO:message" to one client */
static void send_error_to(struct client *c, int e, const char *msg) {
  char p[300];
  int n = snprintf(p, sizeof p, "%d:%s", e, msg);
  client_ctl(c, 'X', p, n < 0 ? 0 : (size_t)n < sizeof p ? (size_t)n : sizeof p - 1);
}

/*
 * net.lazy, the network could not be set up at the container's first socket
 * (the host's network may have gone since it started): the container goes on
 * with its loopback only, as a container whose network was lost, and a later
 * socket tries again (lend.c). Attached clients are told ('W'); a client that
 * asked for it ('N', a container about to join) gets the error.
 */
static void network_lazy_failed(const char *why) {
  static int warned; /* attached clients hear it once; the log has every try */
  if (why != g_net_err) snprintf(g_net_err, sizeof g_net_err, "%s", why); /* for a later 'N' */
  why = g_net_err;
  int secs = lend_net_up(0);
  char msg[400];
  int n = snprintf(msg, sizeof msg, "the container's network could not be set up (%.200s): it has its loopback only; a socket in %d s or later tries again", why, secs);
  mlog("network: %s", msg);
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &g_cl[i];
    if (c->fd < 0) continue;
    if (c->wants_net) c->wants_net = 0, send_error_to(c, EIO, why);
    else if (!warned) client_ctl(c, 'W', msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
  }
  warned = 1;
}

static void network_event(pid_t p, int status) {
  char err[1024];
  int r = net_event(p, status, err, sizeof err);
  if (r > 0) network_up();
  else if (r < 0 && g_lazy) network_lazy_failed(err);
  else if (r < 0) network_failed(errno, err);
}

static void launch_network(pid_t pid);

/* net.lazy: the container's first socket (lend.c), or a client's 'N' (a container
   joining this one's network, which must find it up); again after a failure. */
static void network_wanted(void) {
  if (!g_lazy || (net_state() != NET_NONE && net_state() != NET_FAILED)) return;
  mlog("network wanted: starting %s", g_spec.net_helper);
  launch_network(g_ctr);
  if (net_state() == NET_FAILED) network_lazy_failed(g_net_err);
}

static void stdin_close(void) {
  if (g_stdin >= 0 && g_stdin != g_master) close(g_stdin);
  g_stdin = -1;
  g_stdin_blocked = 0;
}

/* Handles one control frame; returns -1 when the client is gone. */
static int client_frame(struct client *c, unsigned char type, const unsigned char *p, size_t len) {
  switch (type) {
  case 's':
    start_requested();
    break;
  case 'e':
    if (!O.tty) stdin_close();
    break;
  case 'r':
    if (g_master >= 0 && len >= 4) {
      struct winsize ws = {.ws_row = (unsigned short)(p[0] << 8 | p[1]), .ws_col = (unsigned short)(p[2] << 8 | p[3])};
      if (ioctl(g_master, TIOCSWINSZ, &ws) < 0) mlog("resize: %s", strerror(errno));
    }
    break;
  case 'd':
    client_close(c);
    return -1;
  case 'n':
    if (c->passed_fd >= 0) lend_watch(&g_spec, c->passed_fd);
    c->passed_fd = -1;
    break;
  case 'N': /* answered 'N' once the network is up ('X' if it cannot be) */
    network_wanted();
    if (net_state() == NET_STARTING) c->wants_net = 1;
    else if (g_start_errno) send_error_frame(c);
    else if (net_state() == NET_FAILED) send_error_to(c, EIO, g_net_err[0] ? g_net_err : "the network could not be set up");
    else client_ctl(c, 'N', "", 0);
    break;
  default:
    break;
  }
  return 0;
}

/* Parses buffered input: streams 'i' payloads to stdin, runs control frames. */
static void client_input(struct client *c) {
  size_t pos = 0;
  while (pos < c->rxlen && c->fd >= 0) {
    if (c->in_left) {
      size_t k = c->rxlen - pos < c->in_left ? c->rxlen - pos : c->in_left;
      if (g_stdin >= 0) {
        ssize_t w = write(g_stdin, c->rx + pos, k);
        if (w < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            g_stdin_blocked = 1;
            break;
          }
          mlog("stdin: %s", strerror(errno));
          stdin_close();
          w = (ssize_t)k;
        }
        k = (size_t)w;
      }
      pos += k;
      c->in_left -= k;
      continue;
    }
    if (c->rxlen - pos < 5) break;
    unsigned char type = c->rx[pos];
    uint32_t len = get_be32(c->rx + pos + 1);
    if (type == 'i') {
      c->in_left = len;
      pos += 5;
      continue;
    }
    if (len > 64) {
      mlog("client: frame '%c' too long (%u), dropped", type, len);
      client_close(c);
      return;
    }
    if (c->rxlen - pos < 5 + len) break;
    if (client_frame(c, type, c->rx + pos + 5, len) < 0) return;
    pos += 5 + len;
  }
  if (c->fd < 0) return;
  memmove(c->rx, c->rx + pos, c->rxlen - pos);
  c->rxlen -= pos;
}

static void client_read(struct client *c) {
  /* an fd may come with the bytes: a `tspod exec` process's bind() filter (frame 'n') */
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {c->rx + c->rxlen, sizeof c->rx - c->rxlen};
  struct msghdr m = {0};
  m.msg_iov = &iov, m.msg_iovlen = 1, m.msg_control = cbuf, m.msg_controllen = sizeof cbuf;
  ssize_t n = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC);
  int passed = n > 0 ? lend_cmsg_fd(&m) : -1;
  if (passed >= 0) {
    if (c->passed_fd >= 0) close(c->passed_fd);
    c->passed_fd = passed;
  }
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    client_close(c);
    return;
  }
  if (n > 0) {
    c->rxlen += (size_t)n;
    client_input(c);
  }
}

static void accept_client(void) {
  int fd = accept4(g_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  struct client *c = NULL;
  for (int i = 0; i < MAX_CLIENTS && !c; i++)
    if (g_cl[i].fd < 0) c = &g_cl[i];
  if (!c) {
    mlog("attach: too many clients");
    close(fd);
    return;
  }
  memset(c, 0, offsetof(struct client, hdr));
  c->fd = fd;
  c->passed_fd = -1;
  c->progress_ms = mono_ms();
  if (g_start_errno) send_error_frame(c);
  if (g_final) send_exit_frame(c);
}

/* ---- the container ---- */

static void on_sigchld(int sig) {
  (void)sig;
  int e = errno;
  (void)!write(g_sigpipe[1], "c", 1);
  errno = e;
}

static void on_ignore(int sig) { (void)sig; }

static void reap(void) {
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p < 0 && errno == EINTR) continue;
    if (p <= 0) return;
    if (net_state() == NET_STARTING) network_event(p, st);
    if (net_reaped(p)) mlog("network helper %d exited (status 0x%x)", (int)p, st);
    if (p == g_ctr && !g_exited) {
      g_exited = 1;
      g_status = st;
      clock_gettime(CLOCK_REALTIME, &g_exit_ts);
      g_exit_ms = mono_ms();
      g_drain_idle = g_exit_ms + DRAIN_IDLE_MS;
      mlog("container %d exited (status 0x%x)", (int)p, st);
    }
  }
}

static void exec_result(void) {
  char msg[sizeof g_start_msg];
  msg[0] = 0;
  int e = ctr_read_start_error(g_execerr, msg, sizeof msg);
  close(g_execerr);
  g_execerr = -1;
  if (e) {
    g_start_errno = e;
    snprintf(g_start_msg, sizeof g_start_msg, "%s", msg[0] ? msg : strerror(e));
    mlog("start failed: %s (errno %d)", g_start_msg, e);
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (g_cl[i].fd >= 0) send_error_frame(&g_cl[i]);
    if (g_ready_pending) report_error("exec", e, g_start_msg);
  } else if (g_ready_pending) {
    report_ready();
  }
  g_ready_pending = 0;
}

static void finalize(void) {
  /* published ports are free before anyone reads exit.json; without any, the
     helper dies in the background (the monitor reaps it before it exits) */
  net_stop(g_spec.nnet_ports > 0);
  lend_release();
  if (g_execerr >= 0) {
    struct pollfd p = {g_execerr, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) exec_result();
    else {
      close(g_execerr);
      g_execerr = -1;
    }
  }
  if (g_ready_pending) report_ready();
  log_flush();
  char ts[48], msg[sizeof g_start_msg + 64], buf[sizeof msg + 160];
  rfc3339(ts, sizeof ts, &g_exit_ts);
  int n = snprintf(buf, sizeof buf, "{\"exitCode\":%d,\"exitedAt\":\"%s\",\"signal\":%d", exit_code(), ts,
                   WIFSIGNALED(g_status) ? WTERMSIG(g_status) : 0);
  if (g_start_errno) {
    json_esc(msg, sizeof msg, g_start_msg);
    n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"startError\":%s,\"startErrno\":%d", msg, g_start_errno);
  }
  if (g_end_reason) {
    json_esc(msg, sizeof msg, g_end_reason);
    n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"reason\":%s", msg);
  }
  snprintf(buf + n, sizeof buf - (size_t)n, "}\n");
  write_atomic("exit.json", buf);
  g_final = 1;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (g_cl[i].fd >= 0) send_exit_frame(&g_cl[i]);
  g_linger_until = mono_ms() + LINGER_MS;
}

static void run_exit_cmd(void) {
  if (!O.exit_cmd || !O.exit_cmd[0]) return;
  /* A CLI that ran the container with --rm took its directory away (one rename
     to --trash) before it hung up: deleting the trash is then all the exit
     command would do, and needs no tspod process. Files of subordinate ids can
     only go inside the user namespace: then the exit command still runs. */
  if (O.trash && access(O.dir, F_OK) < 0 && errno == ENOENT) {
    if (rm_trees(1, (char **)&O.trash, 0) == 0) {
      mlog("container removed by the CLI: trash deleted, no exit command");
      return;
    }
    mlog("trash %s: %s: running the exit command", O.trash, strerror(errno));
  }
  pid_t p = fork();
  if (p < 0) {
    mlog("exit command: fork: %s", strerror(errno));
    return;
  }
  if (p == 0) {
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
      dup2(nul, 0);
      dup2(nul, 1);
      dup2(nul, 2);
    }
    execvp(O.exit_cmd[0], O.exit_cmd);
    _exit(127);
  }
  int st;
  while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) mlog("exit command %s: status 0x%x", O.exit_cmd[0], st);
}

/* Reads one chunk of output; logs it and hands it to the clients. */
static void read_output(struct stream *s) {
  ssize_t n = read(s->fd, g_chunk, sizeof g_chunk);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    if (n < 0 && errno != EIO) mlog("read %s: %s", s->name, strerror(errno));
    if (s->fd != g_master) close(s->fd);  /* the master stays open for resize */
    s->fd = -1;
    return;
  }
  if (g_exited) g_drain_idle = mono_ms() + DRAIN_IDLE_MS;
  log_chunk(s->name, g_chunk, (size_t)n);
  fanout(s->type, (size_t)n);
}

enum { K_SIG, K_LISTEN, K_EXECERR, K_NET, K_OUT0, K_OUT1, K_STDIN, K_LENDSYNC, K_LEND, K_JOINED, K_CLIENT };

static void loop(void) {
  struct pollfd pf[10 + LEND_MAX_LISTENERS + MAX_CLIENTS];
  int kind[10 + LEND_MAX_LISTENERS + MAX_CLIENTS];
  reap();
  for (;;) {
    long long now = mono_ms();
    if (!g_born_ms) g_born_ms = now;
    /* nobody came to send START (the CLI died before it connected): start anyway */
    if (!g_start_wanted && g_gate >= 0 && client_count() == 0 && now - g_born_ms >= START_WAIT_MS) {
      mlog("no client came to start the container within %d ms: starting it detached", START_WAIT_MS);
      start_requested();
    }
    int paused = any_pending();
    /* Drop clients that took nothing for too long, so they cannot hold the container. */
    if (paused) {
      for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &g_cl[i];
        if (client_pending(c) && now - c->progress_ms >= O.stall_ms) {
          mlog("attach: client took nothing for %ld ms, dropped", O.stall_ms);
          client_close(c);
        }
      }
      paused = any_pending();
    }
    int outs_open = g_out[0].fd >= 0 || g_out[1].fd >= 0;
    if (g_exited && !g_final) {
      if (paused) g_drain_idle = now + DRAIN_IDLE_MS;
      if (!outs_open || now >= g_drain_idle || now - g_exit_ms >= DRAIN_MAX_MS) finalize();
    }
    if (g_final) {
      int nc = 0;
      for (int i = 0; i < MAX_CLIENTS; i++) nc += g_cl[i].fd >= 0;
      /* a start that failed before the attached CLI connected: give it the time to hear why */
      int owed = g_start_errno && !g_start_wanted && !O.start_now;
      if ((nc == 0 && !owed) || now >= g_linger_until) break;
    }

    int n = 0;
    long long deadline = -1;
    pf[n] = (struct pollfd){g_sigpipe[0], POLLIN, 0}, kind[n++] = K_SIG;
    if (g_listen >= 0) pf[n] = (struct pollfd){g_listen, POLLIN, 0}, kind[n++] = K_LISTEN;
    if (g_execerr >= 0) pf[n] = (struct pollfd){g_execerr, POLLIN, 0}, kind[n++] = K_EXECERR;
    if (net_poll_fd() >= 0) pf[n] = (struct pollfd){net_poll_fd(), POLLIN, 0}, kind[n++] = K_NET;
    if (net_deadline() >= 0 && (deadline < 0 || net_deadline() < deadline)) deadline = net_deadline();
    if (!paused && !g_final) {
      if (g_out[0].fd >= 0) pf[n] = (struct pollfd){g_out[0].fd, POLLIN, 0}, kind[n++] = K_OUT0;
      if (g_out[1].fd >= 0) pf[n] = (struct pollfd){g_out[1].fd, POLLIN, 0}, kind[n++] = K_OUT1;
    }
    if (g_stdin_blocked && g_stdin >= 0) pf[n] = (struct pollfd){g_stdin, POLLOUT, 0}, kind[n++] = K_STDIN;
    if (g_lendsync >= 0) pf[n] = (struct pollfd){g_lendsync, POLLIN, 0}, kind[n++] = K_LENDSYNC;
    int lfds[LEND_MAX_LISTENERS], nl = lend_fds(lfds, LEND_MAX_LISTENERS);
    for (int i = 0; i < nl; i++) pf[n] = (struct pollfd){lfds[i], POLLIN, 0}, kind[n++] = K_LEND;
    if (g_joined >= 0) pf[n] = (struct pollfd){g_joined, POLLIN, 0}, kind[n++] = K_JOINED;
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *c = &g_cl[i];
      if (c->fd < 0) continue;
      short ev = 0;
      if (c->rxlen < sizeof c->rx) ev |= POLLIN;
      if (client_pending(c)) {
        ev |= POLLOUT;
        long long d = c->progress_ms + O.stall_ms;
        if (deadline < 0 || d < deadline) deadline = d;
      }
      pf[n] = (struct pollfd){c->fd, ev, 0}, kind[n++] = K_CLIENT + i;
    }
    if (g_exited && !g_final) {
      long long d = g_drain_idle < g_exit_ms + DRAIN_MAX_MS ? g_drain_idle : g_exit_ms + DRAIN_MAX_MS;
      if (deadline < 0 || d < deadline) deadline = d;
    }
    if (g_final && (deadline < 0 || g_linger_until < deadline)) deadline = g_linger_until;
    if (!g_start_wanted && g_gate >= 0 && client_count() == 0 && (deadline < 0 || g_born_ms + START_WAIT_MS < deadline)) deadline = g_born_ms + START_WAIT_MS;
    int timeout = deadline < 0 ? -1 : deadline <= now ? 0 : (int)(deadline - now);

    int r = poll(pf, (nfds_t)n, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      mlog("poll: %s", strerror(errno));
      sleep(1);
      continue;
    }
    if (net_deadline() >= 0 && mono_ms() >= net_deadline()) network_event(-1, 0);
    int stdin_ready = 0;
    for (int j = 0; j < n; j++) {
      short re = pf[j].revents;
      if (!re) continue;
      switch (kind[j]) {
      case K_SIG: {
        char b[64];
        while (read(g_sigpipe[0], b, sizeof b) > 0) {}
        reap();
        break;
      }
      case K_LISTEN:
        accept_client();
        break;
      case K_EXECERR:
        if (g_execerr >= 0) exec_result();
        break;
      case K_NET:
        if (net_state() == NET_STARTING) network_event(0, 0);
        break;
      case K_OUT0:
      case K_OUT1: {
        struct stream *s = &g_out[kind[j] - K_OUT0];
        if (s->fd == pf[j].fd && !any_pending()) read_output(s);
        break;
      }
      case K_STDIN:
        stdin_ready = 1;
        break;
      case K_LENDSYNC: {
        /* the container's bind() filter (lend.c), sent before it execs; EOF: it failed first */
        char tag;
        int fd = lend_recv_fd(g_lendsync, &tag);
        if (fd >= 0) lend_watch(&g_spec, fd);
        close(g_lendsync);
        g_lendsync = -1;
        break;
      }
      case K_LEND:
        lend_event(pf[j].fd, re);
        break;
      case K_JOINED:
        /* the container whose network this one joined ended: this one ends too (lend.c) */
        g_end_reason = "ended with the container whose network it shares (that container's published ports were lent in it)";
        lend_revoke(g_ctr);
        close(g_joined);
        g_joined = -1;
        break;
      default: {
        struct client *c = &g_cl[kind[j] - K_CLIENT];
        if (c->fd != pf[j].fd) break;
        if (re & POLLOUT) client_flush(c);
        if (c->fd >= 0 && (re & POLLIN)) client_read(c);
        else if (c->fd >= 0 && (re & (POLLHUP | POLLERR))) client_close(c);
      }
      }
    }
    if (stdin_ready) {
      g_stdin_blocked = 0;
      for (int i = 0; i < MAX_CLIENTS && !g_stdin_blocked; i++)
        if (g_cl[i].fd >= 0 && g_cl[i].rxlen) client_input(&g_cl[i]);
    }
  }
}

/* ---- setup ---- */

/* The attach socket's file as bound (a later monitor of the container binds the same path). */
static dev_t g_sock_dev;
static ino_t g_sock_ino;

/* Remove the attach socket's file, if it still is ours: a new start of the
   container may have put its own monitor's there while this one was ending
   (killing pasta, say), and taking that one's would leave its CLI unable to attach. */
static void unlink_sock(void) {
  struct stat st;
  if (lstat(O.sock, &st) < 0) return;
  if (st.st_ino != g_sock_ino || st.st_dev != g_sock_dev) return;
  if (unlink(O.sock) < 0) mlog("unlink %s: %s", O.sock, strerror(errno));
}

static int bind_socket(const char *path, char *err, size_t errlen) {
  struct sockaddr_un a;
  int dfd, u = unix_address(path, &a, &dfd);
  if (u < 0) {
    int e = errno;
    const char *slash = strrchr(path, '/');
    if (u == -1) snprintf(err, errlen, "open socket directory %.*s: %s", slash && slash > path ? (int)(slash - path) : 1, slash ? path : ".", strerror(e));
    else snprintf(err, errlen, "socket name %s: %s", slash ? slash + 1 : path, strerror(e));
    errno = e;
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    if (dfd >= 0) close(dfd);
    return -1;
  }
  if (unlink(path) < 0 && errno != ENOENT) mlog("unlink %s: %s", path, strerror(errno));
  mode_t old = umask(0177);
  int r = bind(fd, (struct sockaddr *)&a, sizeof a);
  int e = errno;
  umask(old);
  if (dfd >= 0) close(dfd);
  if (r < 0 || listen(fd, 16) < 0) {
    if (r == 0) e = errno;
    close(fd);
    errno = e;
    snprintf(err, errlen, "bind %s: %s", path, strerror(e));
    return -1;
  }
  struct stat st;
  if (lstat(path, &st) == 0) g_sock_dev = st.st_dev, g_sock_ino = st.st_ino;
  return fd;
}

/*
 * The container's terminal: its master, sent by the container once it has made
 * the pty in its own devpts (container.c). EOF instead: it failed before, and
 * says why through the exec error pipe.
 */
static void take_console(void) {
  char tag = 0;
  int m = g_lendsync >= 0 ? lend_recv_fd(g_lendsync, &tag) : -1;
  if (m >= 0 && tag != 't') {
    close(m);
    m = -1;
  }
  if (m < 0 || !lend_what(&g_spec)) {
    /* nothing more comes this way (no network filter), or the container is gone */
    if (g_lendsync >= 0) close(g_lendsync);
    g_lendsync = -1;
  }
  if (m < 0) return;
  set_nonblock(m);
  g_master = m;
  if (O.tty) {
    g_out[0].fd = m;
    if (O.stdin_open) g_stdin = m;
  }
}

static void close_ns_fds(void) {
  if (ctr_netns_fd >= 0) close(ctr_netns_fd);
  if (ctr_userns_fd >= 0) close(ctr_userns_fd);
  ctr_netns_fd = ctr_userns_fd = -1;
}

static void launch_network(pid_t pid) {
  if (g_netlog >= 0 && ftruncate(g_netlog, 0) < 0) mlog("net.log: %s", strerror(errno)); /* (another try: its own messages) */
  if (net_launch(&g_spec, pid, ctr_netns_fd, ctr_userns_fd, g_netlog >= 0 ? g_netlog : 2, g_net_err, sizeof g_net_err) < 0)
    g_net_errno = errno ? errno : EIO;
}

/* ctr_spawn's hook: pasta needs no id map, so it starts while newuidmap runs. */
static void launch_network_early(pid_t pid) {
  if (!strcmp(g_spec.net_helper, "pasta") && !g_lazy) launch_network(pid);
}

/* Before the container ran: record the failure, run the cleanup, then tell the CLI. */
__attribute__((noreturn)) static void fail_before_start(const char *stage, int e, const char *msg) {
  if (!e || e == ENOENT || e == EACCES || e == EPERM || e == ENOEXEC) e = EIO;
  g_start_errno = e;
  if (snprintf(g_start_msg, sizeof g_start_msg, "%s", msg) < 0) g_start_msg[0] = 0;
  g_exited = 1;
  clock_gettime(CLOCK_REALTIME, &g_exit_ts);
  g_engine_failed = 1;
  if (g_gate >= 0) close(g_gate);
  g_gate = -1;
  finalize();
  close(g_listen);
  unlink_sock();
  run_exit_cmd();
  report_error(stage, e, msg);
  _exit(0);
}

/*
 * The directory that holds the containers' directories is the top of
 * directory hierarchies (FS_TOPDIR_FL, `chattr +T`): ext4 then puts each new
 * container's directory in a block group of its own, away from the inodes of
 * the containers just removed, which on ext4 without a journal cost a look
 * each for 30 s after they are freed (see Store.spreadTemp in the CLI). Done
 * once per store (the flag stays); a hint, nothing happens where refused.
 */
static void mark_parent_top(const char *dir) {
  char parent[4096];
  if (snprintf(parent, sizeof parent, "%s/..", dir) >= (int)sizeof parent) return;
  int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  int flags;
  if (ioctl(fd, TSPOD_FS_IOC_GETFLAGS, &flags) == 0 && !(flags & TSPOD_FS_TOPDIR_FL)) {
    flags |= TSPOD_FS_TOPDIR_FL;
    /* filesystems without the flag say so in several ways: nothing to report */
    if (ioctl(fd, TSPOD_FS_IOC_SETFLAGS, &flags) < 0 && errno != EOPNOTSUPP && errno != EINVAL && errno != ENOTTY)
      mlog("mark %s as top directory: %s", parent, strerror(errno));
  }
  close(fd);
}

/* The monitor proper (the grandchild). Never returns. */
static void monitor_main(void) {
  char err[1024];
  /* Clean signal state: the container inherits dispositions and the mask. */
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (int s = 1; s < 65; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);

  int nul = open("/dev/null", O_RDWR);
  if (nul >= 0) {
    dup2(nul, 0);
    dup2(nul, 1);
    if (nul > 2) close(nul);
  }
  g_dirfd = open(O.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g_dirfd < 0) {
    report_error("dir", errno, "open container directory");
    _exit(1);
  }
  unlinkat(g_dirfd, "net.up", 0); /* (a run before this one's) */
  int lfd = openat(g_dirfd, "monitor.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (lfd >= 0) {
    dup2(lfd, 2);  /* diagnostics, also those of ctr_spawn */
    close(lfd);
  } else {
    dup2(0, 2);
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) mlog("subreaper: %s", strerror(errno));
  mark_parent_top(O.dir);

  /* Handlers, not SIG_IGN: handlers are reset by exec, SIG_IGN would be inherited. */
  if (pipe2(g_sigpipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    report_error("setup", errno, "pipe");
    _exit(1);
  }
  struct sigaction sa = {0};
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_ignore;
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sa.sa_handler = on_sigchld;
  sigaction(SIGCHLD, &sa, NULL);

  char pidbuf[32];
  snprintf(pidbuf, sizeof pidbuf, "%d\n", (int)getpid());
  write_atomic("monitor.pid", pidbuf);

  g_logfd = open(O.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (g_logfd < 0) {
    snprintf(err, sizeof err, "open log %s: %s", O.log, strerror(errno));
    report_error("log", errno, err);
    _exit(1);
  }
  g_listen = bind_socket(O.sock, err, sizeof err);
  if (g_listen < 0) {
    report_error("socket", errno, err);
    _exit(1);
  }
  if (chdir("/") < 0) mlog("chdir /: %s", strerror(errno));
  for (int i = 0; i < MAX_CLIENTS; i++) g_cl[i].fd = g_cl[i].passed_fd = -1;

  /* stdio for the container */
  /* (a terminal: the container makes it in its own devpts and sends the master, below) */
  int cin = -1, cout = -1, cerr = -1, p[2];
  if (!O.tty) {
    if (pipe2(p, O_CLOEXEC) < 0) goto pipe_fail;
    g_out[0].fd = p[0], cout = p[1];
    if (pipe2(p, O_CLOEXEC) < 0) goto pipe_fail;
    g_out[1].fd = p[0], cerr = p[1];
    set_nonblock(g_out[0].fd);
    set_nonblock(g_out[1].fd);
    if (O.stdin_open) {
      if (pipe2(p, O_CLOEXEC) < 0) goto pipe_fail;
      cin = p[0], g_stdin = p[1];
      set_nonblock(g_stdin);
    } else {
      cin = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
  }
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) < 0) goto pipe_fail;
  g_gate = gate[1];

  if (g_spec.net_helper) {
    /* a port in use: say so before anything is started */
    /* ... and those served without a forwarder (lend.c) are held from now on: both
       under a lock every monitor of this user takes, so two cannot both find one free */
    int lk = g_spec.nnet_lend ? lend_lock() : -1;
    int bad = net_check_ports(&g_spec, err, sizeof err) < 0 || lend_reserve(&g_spec, err, sizeof err) < 0;
    int e = errno;
    if (lk >= 0) close(lk);
    if (bad) fail_before_start("network", e, err);
    g_netlog = openat(g_dirfd, "net.log", O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    ctr_keep_ns = 1;
    ctr_after_clone = launch_network_early;
    /* pasta at the first socket (lend.c): the container's filter says when */
    g_lazy = g_spec.net_lazy && !g_spec.pause && !strcmp(g_spec.net_helper, "pasta");
    if (g_lazy) lend_net_lazy(network_wanted);
  }
  /* Joining a network whose ports are lent (lend.c): this container must end with
     the one it joins, so that one is watched from before this one joins it (an
     exploratory run slipped one in between); gone already, no start. */
  if (g_spec.nnet_lend && !g_spec.pause && O.join_pid > 0) {
    g_joined = (int)syscall(434 /* pidfd_open */, (pid_t)O.join_pid, 0);
    if (g_joined < 0) fail_before_start("network", errno, "the container whose network this one joins is gone");
  }
  g_ctr = ctr_spawn(&g_spec, cin, cout, cerr, gate[0], &g_execerr, err, sizeof err);
  int spawn_errno = errno;
  g_lendsync = ctr_lend_fd;
  close(gate[0]);
  if (!O.tty) {
    close(cin);
    close(cout);
    close(cerr);
  }
  if (g_ctr < 0) {
    g_ctr = -1;
    report_error("spawn", spawn_errno ? spawn_errno : EIO, err[0] ? err : "cannot create the container");
    /* Still record the outcome and run the cleanup: the CLI may already be gone. */
    g_start_errno = spawn_errno ? spawn_errno : EIO;
    if (snprintf(g_start_msg, sizeof g_start_msg, "%s", err) < 0) g_start_msg[0] = 0;
    g_exited = 1;
    clock_gettime(CLOCK_REALTIME, &g_exit_ts);
    finalize();
    close(g_listen);
    unlink_sock();
    run_exit_cmd();
    _exit(0);
  }
  mlog("container %d created", (int)g_ctr);
  if (g_spec.net_helper) {
    if (net_state() == NET_NONE && !g_lazy) launch_network(g_ctr); /* slirp4netns: now that the id map is written */
    /* published UDP ports: tspod's forwarder, in the namespaces now that the id map is written */
    if (net_state() != NET_FAILED && net_udp_start(ctr_netns_fd, ctr_userns_fd, g_net_err, sizeof g_net_err) < 0) g_net_errno = errno ? errno : EIO;
    if (!g_lazy) close_ns_fds(); /* (lazy: kept for the helper, see network_wanted) */
    if (net_state() == NET_FAILED) {
      /* Nothing may stay behind: the container goes, its exit is recorded and
         the cleanup runs before the CLI hears why. */
      kill(g_ctr, SIGKILL);
      while (waitpid(g_ctr, NULL, 0) < 0 && errno == EINTR) {}
      fail_before_start("network", g_net_errno, g_net_err);
    }
  }
  if (g_spec.tty) take_console();
  if (O.start_now) {
    g_ready_pending = 1;  /* reported once the exec result is known */
    start_requested();
  } else {
    report_ready();
  }
  loop();
  net_stop(1);
  close(g_listen);
  unlink_sock();
  run_exit_cmd();
  mlog("done");
  _exit(0);
pipe_fail:
  report_error("setup", errno, "pipe");
  _exit(1);
}

static int usage(const char *msg) {
  char m[512], line[700];
  snprintf(m, sizeof m, "monitor: %s (usage: tspod-rt monitor --spec FILE --dir DIR --sock PATH --log PATH "
           "[--tty] [--stdin] [--start-now] [--stall-ms N] [--join-pid PID] [--trash PATH] [--exit-cmd ARG...])", msg);
  char e[600];
  json_esc(e, sizeof e, m);
  snprintf(line, sizeof line, "{\"error\":%s,\"errno\":%d,\"stage\":\"args\"}\n", e, EINVAL);
  fputs(line, stdout);
  return 125;
}

/* Loads the spec with its one-line complaint captured for the JSON answer. */
static int load_spec(char *msg, size_t n) {
  int mfd = memfd_create("spec-err", MFD_CLOEXEC);
  int saved = mfd >= 0 ? dup(2) : -1;
  if (saved >= 0) dup2(mfd, 2);
  int r = spec_load(O.spec, &g_spec);
  if (saved >= 0) {
    dup2(saved, 2);
    close(saved);
  }
  msg[0] = 0;
  if (r < 0 && mfd >= 0) {
    ssize_t k = pread(mfd, msg, n - 1, 0);
    msg[k > 0 ? k : 0] = 0;
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' ')) msg[--l] = 0;
    if (!strncmp(msg, "tspod-rt: ", 10)) memmove(msg, msg + 10, strlen(msg + 10) + 1);
  }
  if (mfd >= 0) close(mfd);
  if (r < 0 && !msg[0]) snprintf(msg, n, "invalid spec %s", O.spec);
  return r;
}

int cmd_monitor(int argc, char **argv) {
  /* The container's first steps run this binary: never let it reach the file on the host. */
  ensure_sealed_self(argv - 1);
  O.stall_ms = DEFAULT_STALL_MS;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **val = !strcmp(a, "--spec") ? &O.spec : !strcmp(a, "--dir") ? &O.dir
                     : !strcmp(a, "--sock") ? &O.sock : !strcmp(a, "--log") ? &O.log
                     : !strcmp(a, "--trash") ? &O.trash : NULL;
    if (val) {
      if (i + 1 >= argc) return usage("missing value");
      *val = argv[++i];
    } else if (!strcmp(a, "--stall-ms")) {
      if (i + 1 >= argc) return usage("missing value");
      O.stall_ms = strtol(argv[++i], NULL, 10);
      if (O.stall_ms < 0) O.stall_ms = 0;
    } else if (!strcmp(a, "--join-pid")) {
      if (i + 1 >= argc) return usage("missing value");
      O.join_pid = strtol(argv[++i], NULL, 10);
      if (O.join_pid <= 0) return usage("--join-pid needs a pid");
    } else if (!strcmp(a, "--tty")) O.tty = 1;
    else if (!strcmp(a, "--stdin")) O.stdin_open = 1;
    else if (!strcmp(a, "--start-now")) O.start_now = 1;
    else if (!strcmp(a, "--exit-cmd")) {
      O.exit_cmd = argv + i + 1;
      if (!O.exit_cmd[0]) return usage("--exit-cmd needs a command");
      break;
    } else {
      char m[300];
      snprintf(m, sizeof m, "unknown option %.200s", a);
      return usage(m);
    }
  }
  if (!O.spec || !O.dir || !O.sock || !O.log) return usage("--spec, --dir, --sock and --log are required");
  O.spec = absolute(O.spec, p_spec, sizeof p_spec);
  O.dir = absolute(O.dir, p_dir, sizeof p_dir);
  O.sock = absolute(O.sock, p_sock, sizeof p_sock);
  if (O.trash) O.trash = absolute(O.trash, p_trash, sizeof p_trash);
  O.log = absolute(O.log, p_log, sizeof p_log);

  /* Nothing the CLI leaked may reach the monitor or the container. */
  close_from(3, -1);
  char msg[1024];
  if (load_spec(msg, sizeof msg) < 0) {
    char e[1100];
    json_esc(e, sizeof e, msg);
    printf("{\"error\":%s,\"errno\":%d,\"stage\":\"spec\"}\n", e, EINVAL);
    return 125;
  }
  if (O.tty) g_spec.tty = 1;
  if (g_spec.netns && !strcmp(g_spec.netns, "join")) {
    if (!O.join_pid) return usage("the spec joins another container's network: --join-pid is required");
    snprintf(p_netns, sizeof p_netns, "/proc/%ld/ns/net", O.join_pid);
    g_spec.netns = p_netns;
    if (g_spec.ns_user && !g_spec.userns) {
      snprintf(p_userns, sizeof p_userns, "/proc/%ld/ns/user", O.join_pid);
      g_spec.userns = p_userns;
    }
    if (access(p_netns, F_OK) < 0) {
      printf("{\"error\":\"the container whose network this one joins is not running (pid %ld is gone)\",\"errno\":%d,\"stage\":\"network\"}\n", O.join_pid, ESRCH);
      return 125;
    }
  }

  int rp[2];
  if (pipe2(rp, O_CLOEXEC) < 0) {
    printf("{\"error\":\"pipe\",\"errno\":%d,\"stage\":\"setup\"}\n", errno);
    return 125;
  }
  fflush(stdout);
  pid_t mid = fork();
  if (mid < 0) {
    printf("{\"error\":\"fork\",\"errno\":%d,\"stage\":\"setup\"}\n", errno);
    return 125;
  }
  if (mid == 0) {
    close(rp[0]);
    g_ready_fd = rp[1];
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
      dup2(nul, 0);
      dup2(nul, 1);
      dup2(nul, 2);
      if (nul > 2) close(nul);
    }
    setsid();
    pid_t m = fork();
    if (m < 0) {
      report_error("setup", errno, "fork");
      _exit(1);
    }
    if (m > 0) _exit(0);
    close_from(3, g_ready_fd);
    monitor_main();
  }
  /* The invoker: wait for the monitor's one line, pass it on. */
  close(rp[1]);
  char line[2048];
  size_t got = 0;
  while (got < sizeof line - 1) {
    ssize_t k = read(rp[0], line + got, sizeof line - 1 - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
    if (memchr(line + got - k, '\n', (size_t)k)) break;
  }
  line[got] = 0;
  while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {}
  if (!got || line[got - 1] != '\n') {
    printf("{\"error\":\"the monitor exited before it was ready\",\"errno\":%d,\"stage\":\"monitor\"}\n", EIO);
    return 125;
  }
  fputs(line, stdout);
  return strncmp(line, "{\"error\"", 8) ? 0 : 125;
}
