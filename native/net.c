/*
 * Network helpers, run by the monitor between creating the container (its
 * network namespace exists, the process waits at its start gate) and opening
 * the gate, so the container's first instruction already has a network:
 *
 *   pasta        `pasta --foreground --config-net --pid CTRDIR/net.ready ...
 *                --netns NS`: configures the namespace's interface, binds the
 *                published ports (-t/-u) on the host, then writes its pid to
 *                its "pid file", a symlink to /proc/self/fd/3, a pipe: that
 *                line is the readiness signal (and the path names the
 *                container on pasta's command line). (Not an inotify watch on a real file: closing an
 *                inotify instance waits for an RCU grace period, ~15 ms here,
 *                measured.) It stays the monitor's child with
 *                PR_SET_PDEATHSIG, so it dies with the monitor however the
 *                monitor ends, like slirp4netns below.
 *   slirp4netns  `slirp4netns --configure --ready-fd=3 --exit-fd=4 ... PID tap0`
 *                stays in the foreground as the monitor's child; it writes "1"
 *                on fd 3 when the interface is up and exits when fd 4 reads
 *                EOF, i.e. when the monitor is gone, however it died.
 *                Published ports are added through its API socket.
 *
 * Before either starts, every published host port is bound once by the
 * monitor to prove it is free: pasta only warns when it cannot bind a port.
 * pasta is launched right after the clone (it needs no id map, so it works
 * while newuidmap runs); slirp4netns once the id map is written. Readiness is
 * an event of the monitor's loop, so the CLI's attach handshake overlaps it:
 * the start gate opens when both START and the network are there.
 */
#include "common.h"
#include "spec.h"
#include <arpa/inet.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#define READY_TIMEOUT_MS 15000

static pid_t g_helper = -1;     /* pasta or slirp4netns, the monitor's child */
static pid_t g_udp = -1;        /* the UDP forwarder (udpfwd.c), the monitor's child */
static pid_t g_monitor = -1;    /* the helper's parent, checked after PR_SET_PDEATHSIG */
static int g_exit_w = -1;       /* slirp4netns --exit-fd: closing it ends slirp4netns */
static const char *g_pidfile;
static int g_killed;                /* SIGKILL sent, not yet reaped */
static int g_ns_fd[2] = {-1, -1}; /* the container's network and user namespaces, for the helper */

/* "tcp\t127.0.0.1\t8080\t80\t3" */
struct port {
  char proto[8];
  char ip[64];
  int host, ctr, count;
};

static int parse_port(const char *rec, struct port *p) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", rec);
  char *f[5];
  int n = 0;
  char *q = buf;
  for (; n < 5; n++) {
    f[n] = q;
    char *tab = strchr(q, '\t');
    if (!tab) {
      n++;
      break;
    }
    *tab = 0;
    q = tab + 1;
  }
  if (n != 5) return -1;
  snprintf(p->proto, sizeof p->proto, "%s", f[0]);
  snprintf(p->ip, sizeof p->ip, "%s", f[1]);
  p->host = atoi(f[2]);
  p->ctr = atoi(f[3]);
  p->count = atoi(f[4]);
  if (strcmp(p->proto, "tcp") && strcmp(p->proto, "udp")) return -1;
  if (p->host <= 0 || p->ctr <= 0 || p->count <= 0 || p->host + p->count - 1 > 65535 || p->ctr + p->count - 1 > 65535) return -1;
  return 0;
}

/* Bind ip:port once (TCP like a server does: SO_REUSEADDR, so only a listener or a bound socket conflicts). */
static int port_free(const struct port *p, int port, char *err, size_t errlen) {
  int udp = !strcmp(p->proto, "udp");
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  int fam;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (!p->ip[0] || inet_pton(AF_INET, p->ip, &a4->sin_addr) == 1) {
    fam = AF_INET;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (!p->ip[0]) a4->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof *a4;
  } else if (inet_pton(AF_INET6, p->ip, &a6->sin6_addr) == 1) {
    fam = AF_INET6;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    len = sizeof *a6;
  } else {
    errno = EINVAL;
    snprintf(err, errlen, "invalid host address %s for port %d/%s", p->ip, port, p->proto);
    return -1;
  }
  int fd = socket(fam, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket for port %d/%s: %s", port, p->proto, strerror(errno));
    return -1;
  }
  int one = 1;
  if (!udp) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int r = bind(fd, (struct sockaddr *)&ss, len);
  int e = errno;
  close(fd);
  if (r < 0) {
    /* an IPv6 address in brackets, as in [::1]:8080 */
    const char *ip = p->ip[0] ? p->ip : "0.0.0.0", *lb = strchr(ip, ':') ? "[" : "", *rb = *lb ? "]" : "";
    char why[192];
    port_bind_error(why, sizeof why, e, port);
    snprintf(err, errlen, "cannot publish port %s%s%s:%d/%s: %s", lb, ip, rb, port, p->proto, why);
    errno = e;
    return -1;
  }
  /* no address given: pasta binds the port on IPv6 too ([::], v6 only beside the
     IPv4 socket), so one taken there is in use as well; a host without IPv6 is fine */
  if (!p->ip[0]) {
    struct sockaddr_in6 any6;
    memset(&any6, 0, sizeof any6);
    any6.sin6_family = AF_INET6;
    any6.sin6_port = htons((uint16_t)port);
    any6.sin6_addr = in6addr_any;
    int fd6 = socket(AF_INET6, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd6 >= 0) {
      setsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      if (!udp) setsockopt(fd6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      int r6 = bind(fd6, (struct sockaddr *)&any6, sizeof any6);
      int e6 = errno;
      close(fd6);
      if (r6 < 0 && e6 == EADDRINUSE) {
        snprintf(err, errlen, "cannot publish port [::]:%d/%s: the host port is already in use", port, p->proto);
        errno = e6;
        return -1;
      }
    }
  }
  return 0;
}

static int check_ports(const struct spec *s, char *err, size_t errlen) {
  for (int i = 0; i < s->nnet_ports; i++) {
    struct port p;
    if (parse_port(s->net_ports[i], &p) < 0) {
      errno = EINVAL;
      snprintf(err, errlen, "invalid net.port record %s", s->net_ports[i]);
      return -1;
    }
    for (int k = 0; k < p.count; k++)
      if (port_free(&p, p.host + k, err, errlen) < 0) return -1;
  }
  return 0;
}

/* The last line(s) the helper wrote to its log, for the error message. */
static void log_tail(int log_fd, char *out, size_t outlen) {
  out[0] = 0;
  off_t end = lseek(log_fd, 0, SEEK_END);
  if (end <= 0) return;
  char buf[2048];
  ssize_t n = pread(log_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return;
  buf[n] = 0;
  /* the first meaningful line (a usage text follows slirp4netns's complaint); skip
     pasta's syslog noise and warnings */
  for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    if (!*l || strstr(l, "to syslog") || !strncmp(l, "WARNING", 7)) continue;
    snprintf(out, outlen, "%s", l);
    return;
  }
}

/*
 * The helper gets the namespaces as inherited fds (5: network, 6: user),
 * named /proc/self/fd/N on its command line: opening /proc/PID/ns/net of the
 * container would need ptrace access, which ends once the container's process
 * has switched to its user (-u) and is no longer dumpable.
 */
#define HELPER_NETNS_FD 5
#define HELPER_USERNS_FD 6

/* argv with "@PID@", "@NETNS@", "@USERNS@" and "@READY@" replaced; static storage. */
static char g_ready_path[4096];

static char **helper_argv(const struct spec *s, pid_t ctr) {
  static char *argv[SPEC_MAX_LIST + 1];
  static char pidbuf[16], netns[32], userns[32];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)ctr);
  snprintf(netns, sizeof netns, "/proc/self/fd/%d", HELPER_NETNS_FD);
  snprintf(userns, sizeof userns, "/proc/self/fd/%d", HELPER_USERNS_FD);
  int n = 0;
  for (int i = 0; i < s->nnet_args; i++) {
    char *a = s->net_args[i];
    argv[n++] = !strcmp(a, "@PID@") ? pidbuf : !strcmp(a, "@NETNS@") ? netns : !strcmp(a, "@USERNS@") ? userns
              : !strcmp(a, "@READY@") ? g_ready_path : a;
  }
  argv[n] = NULL;
  return argv;
}

/*
 * pasta re-executes itself as passt.avx2 when the CPU has AVX2 (one more
 * exec and dynamic load, ~5-8 ms of every container start, measured); Debian
 * installs pasta.avx2 beside it, which passt runs in pasta mode (the name)
 * without re-executing (the .avx2 binary). Used when it is there and the CPU
 * has AVX2 (cpuid leaf 7, EBX bit 5, and the OS saving the AVX state).
 */
static int cpu_avx2(void) {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 6) != 6) return 0; /* XMM and YMM state enabled */
  return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX2);
#else
  return 0;
#endif
}

static void exec_fast_pasta(char **argv) {
  const char *a0 = argv[0];
  size_t n = strlen(a0);
  if (n < 6 || strcmp(a0 + n - 6, "/pasta") || !cpu_avx2()) return;
  char path[4096];
  if (snprintf(path, sizeof path, "%s.avx2", a0) >= (int)sizeof path || access(path, X_OK) < 0) return;
  char *orig = argv[0];
  argv[0] = path;
  execv(path, argv);
  argv[0] = orig; /* failed: the plain one below */
}

/* In the forked child: fds (want[i] becomes fd i, -1 = leave), clean signal state, stdio, exec. */
__attribute__((noreturn)) static void exec_helper(char **argv, int log_fd, const int want[7]) {
  /* everything to high numbers first, so no placement overwrites another source */
  int moved[7], logfd = fcntl(log_fd, F_DUPFD_CLOEXEC, 10);
  for (int i = 3; i < 7; i++) moved[i] = want[i] >= 0 ? fcntl(want[i], F_DUPFD_CLOEXEC, 10) : -1;
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (logfd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) _exit(127);
  for (int i = 3; i < 7; i++)
    if (want[i] >= 0 && (moved[i] < 0 || dup2(moved[i], i) < 0)) _exit(127);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* dies with the monitor, however it ends (the monitor is single-threaded) */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != g_monitor) _exit(127);
  exec_fast_pasta(argv);
  execvp(argv[0], argv);
  dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static void write_pidfile(const char *path, pid_t pid) {
  char buf[32];
  snprintf(buf, sizeof buf, "%d\n", (int)pid);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  write_all(fd, buf, strlen(buf));
  close(fd);
}

/* One request on the slirp4netns API socket; 0 when it answered without an error. */
static int slirp_api(const char *sock, const char *req, char *err, size_t errlen) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(sock) >= sizeof a.sun_path) {
    errno = ENAMETOOLONG;
    snprintf(err, errlen, "slirp4netns API socket path too long: %s", sock);
    return -1;
  }
  strcpy(a.sun_path, sock);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    snprintf(err, errlen, "connect to slirp4netns API %s: %s", sock, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  if (write_all(fd, req, strlen(req)) < 0) {
    snprintf(err, errlen, "write to slirp4netns API: %s", strerror(errno));
    close(fd);
    return -1;
  }
  shutdown(fd, SHUT_WR);
  char resp[1024];
  size_t got = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) break;
    ssize_t n = read(fd, resp + got, sizeof resp - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
    if (got >= sizeof resp - 1) break;
  }
  close(fd);
  resp[got] = 0;
  if (!got || strstr(resp, "\"error\"")) {
    errno = strstr(resp, "in use") ? EADDRINUSE : EIO;
    snprintf(err, errlen, "slirp4netns: %.400s", got ? resp : "no answer from the API socket");
    return -1;
  }
  return 0;
}

/* ---- the helper's life: launch, readiness (asynchronous), stop ---- */

static int g_state = NET_NONE;
static const struct spec *g_s;
static int g_ready_r = -1;      /* the helper's fd 3 (read end): slirp4netns --ready-fd, pasta --pid */
static int g_pasta;
static int g_log = -1;          /* the helper's log, for error messages */
static long long g_deadline = -1;

int net_state(void) { return g_state; }
int net_poll_fd(void) { return g_state == NET_STARTING ? g_ready_r : -1; }
long long net_deadline(void) { return g_state == NET_STARTING ? g_deadline : -1; }

static int fail(int e, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(int e, char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  net_stop(1);
  if (g_log >= 0) close(g_log);
  g_log = -1;
  g_state = NET_FAILED;
  errno = e;
  return -1;
}

static int became_ready(void) {
  g_state = NET_READY;
  if (g_log >= 0) close(g_log);
  g_log = -1;
  return 1;
}

int net_check_ports(const struct spec *s, char *err, size_t errlen) {
  err[0] = 0;
  return check_ports(s, err, errlen);
}

int net_launch(const struct spec *s, pid_t ctr, int netns_fd, int userns_fd, int log_fd, char *err, size_t errlen) {
  err[0] = 0;
  g_s = s;
  g_pidfile = s->net_pidfile;
  if (netns_fd < 0) {
    snprintf(err, errlen, "no handle on the container's network namespace for %s", s->net_helper);
    g_state = NET_FAILED;
    errno = EBADF;
    return -1;
  }
  g_ns_fd[0] = netns_fd;
  g_ns_fd[1] = userns_fd;
  g_killed = 0; /* (net.lazy: another try after a failed one) */
  g_log = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
  g_deadline = mono_ms() + READY_TIMEOUT_MS;
  unlink(s->net_pidfile);
  char **argv = helper_argv(s, ctr);
  int pasta = g_pasta = !strcmp(s->net_helper, "pasta");
  int ready[2] = {-1, -1}, ex[2] = {-1, -1};
  if (pasta) {
    /* @READY@: CTRDIR/net.ready -> /proc/self/fd/3 (see the top of this file) */
    snprintf(g_ready_path, sizeof g_ready_path, "%s", s->net_pidfile);
    char *slash = strrchr(g_ready_path, '/');
    snprintf(slash ? slash + 1 : g_ready_path, sizeof g_ready_path - (size_t)(slash ? slash + 1 - g_ready_path : 0), "net.ready");
    unlink(g_ready_path);
    if (symlink("/proc/self/fd/3", g_ready_path) < 0) return fail(errno, err, errlen, "symlink %s: %s", g_ready_path, strerror(errno));
  }
  /* ready: pasta's pid line or slirp4netns's "1"; ex: slirp4netns's --exit-fd */
  if (pipe2(ready, O_CLOEXEC) < 0 || (!pasta && pipe2(ex, O_CLOEXEC) < 0)) {
    int e = errno;
    for (int i = 0; i < 2; i++) {
      if (ready[i] >= 0) close(ready[i]);
      if (ex[i] >= 0) close(ex[i]);
    }
    return fail(e, err, errlen, "pipe: %s", strerror(e));
  }
  if (!pasta) {
    if (s->net_api) unlink(s->net_api);
  }
  g_monitor = getpid();
  pid_t p = fork();
  if (p < 0) {
    int e = errno;
    close(ready[0]), close(ready[1]);
    if (!pasta) close(ex[0]), close(ex[1]);
    return fail(e, err, errlen, "fork for %s: %s", s->net_helper, strerror(e));
  }
  if (p == 0) {
    /* fd 3 = ready (write end; pasta's --pid), fd 4 = slirp4netns's exit (read end); 5 and 6 the namespaces */
    int want[7] = {-1, -1, -1, ready[1], ex[0], g_ns_fd[0], g_ns_fd[1]};
    exec_helper(argv, log_fd, want);
  }
  g_state = NET_STARTING;
  g_helper = p;
  close(ready[1]);
  g_ready_r = ready[0];
  write_pidfile(s->net_pidfile, p);
  if (!pasta) {
    close(ex[0]);
    g_exit_w = ex[1];
  }
  return 0;
}

/* slirp4netns is up: add the published ports through its API. */
static int slirp_ports(char *err, size_t errlen) {
  const struct spec *s = g_s;
  for (int i = 0; i < s->nnet_ports; i++) {
    struct port pt;
    if (parse_port(s->net_ports[i], &pt) < 0) continue; /* checked before */
    if (!strcmp(pt.proto, "udp")) continue;                /* tspod's forwarder (udpfwd.c) */
    for (int k = 0; k < pt.count; k++) {
      if (!s->net_api) return fail(EINVAL, err, errlen, "published ports with slirp4netns need net.api");
      char req[512];
      snprintf(req, sizeof req,
               "{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\"%s\",\"host_addr\":\"%s\",\"host_port\":%d,\"guest_port\":%d}}",
               pt.proto, pt.ip[0] ? pt.ip : "0.0.0.0", pt.host + k, pt.ctr + k);
      char e[700];
      if (slirp_api(s->net_api, req, e, sizeof e) < 0) return fail(errno, err, errlen, "%s", e);
    }
  }
  return 0;
}

/* The helper (reaped, status) died before it was ready. */
static int died(int status, char *err, size_t errlen) {
  char tail[512];
  g_helper = -1;
  log_tail(g_log, tail, sizeof tail);
  if (g_pasta)
    return fail(EIO, err, errlen, "pasta failed (%s %d)%s%s", WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail[0] ? ": " : "", tail);
  return fail(EIO, err, errlen, "slirp4netns failed%s%s", tail[0] ? ": " : "", tail);
}

int net_event(pid_t p, int status, char *err, size_t errlen) {
  if (g_state != NET_STARTING) return 0;
  char tail[512];
  if (p > 0 && p == g_helper) return died(status, err, errlen);
  if (p == 0 && g_ready_r >= 0) {
    char buf[32];
    ssize_t n;
    do n = read(g_ready_r, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return 0;
    close(g_ready_r);
    g_ready_r = -1;
    /* pasta: "PID\n" in one write; slirp4netns: "1" */
    int ok = n > 0 && (g_pasta ? (buf[n] = 0, (pid_t)atoi(buf) == g_helper) : n == 1);
    if (!ok) {
      /* its readiness pipe closed unanswered: it is exiting (its files close just
         before it is a zombie); its status says how, as when SIGCHLD comes first */
      pid_t r = 0;
      for (int i = 0; i < 200 && g_helper > 0 && (r = waitpid(g_helper, &status, WNOHANG)) == 0; i++) usleep(500);
      if (r > 0 && r == g_helper) return died(status, err, errlen);
      log_tail(g_log, tail, sizeof tail);
      return fail(EIO, err, errlen, "%s failed%s%s", g_s->net_helper, tail[0] ? ": " : "", tail);
    }
    if (!g_pasta && slirp_ports(err, errlen) < 0) return -1;
    return became_ready();
  }
  if (p < 0 && mono_ms() >= g_deadline)
    return fail(ETIMEDOUT, err, errlen, "%s did not set up the network in %d s", g_s->net_helper, READY_TIMEOUT_MS / 1000);
  return 0;
}

/* slirp4netns's API socket goes with it (it leaves the file behind when killed) */
static void unlink_api(void) {
  if (g_s && g_s->net_api && !g_pasta) unlink(g_s->net_api);
}

int net_udp_start(int netns_fd, int userns_fd, char *err, size_t errlen) {
  const struct spec *s = g_s;
  static int fds[UDP_MAX_PORTS], ctrs[UDP_MAX_PORTS];
  int n = 0;
  /* a socket per port and family: more than the usual soft limit of open files allows */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 2 * UDP_MAX_PORTS + 1024) {
    rl.rlim_cur = rl.rlim_max < 2 * UDP_MAX_PORTS + 1024 ? rl.rlim_max : 2 * UDP_MAX_PORTS + 1024;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  for (int i = 0; s && i < s->nnet_ports; i++) {
    struct port pt;
    if (parse_port(s->net_ports[i], &pt) < 0 || strcmp(pt.proto, "udp")) continue;
    for (int k = 0; k < pt.count; k++) {
      char why[512];
      if (udpfwd_bind(pt.ip, pt.host + k, pt.ctr + k, fds, ctrs, &n, why, sizeof why) < 0) {
        int e = errno;
        for (int j = 0; j < n; j++) close(fds[j]);
        return fail(e, err, errlen, "%s", why);
      }
    }
  }
  if (!n) return 0;
  if (netns_fd < 0) return fail(EBADF, err, errlen, "no handle on the container's network namespace for the UDP forwarder");
  g_monitor = getpid();
  pid_t p = fork();
  if (p < 0) {
    int e = errno;
    for (int j = 0; j < n; j++) close(fds[j]);
    return fail(e, err, errlen, "fork for the UDP forwarder: %s", strerror(e));
  }
  if (p == 0) {
    /* only its sockets and the namespaces: no copy of the monitor's pipes (a
       held write end of the container's stdin would keep it from seeing EOF) */
    static int keep[UDP_MAX_PORTS + 2];
    int nk = 0;
    for (int j = 0; j < n; j++) keep[nk++] = fds[j];
    keep[nk++] = netns_fd;
    if (userns_fd >= 0) keep[nk++] = userns_fd;
    int hi = 3 + n + 2 > 200 ? 3 + n + 2 : 200; /* above every target number 3.. */
    for (int j = 0; j < nk; j++) {
      int d = fcntl(keep[j], F_DUPFD_CLOEXEC, hi + j);
      if (d < 0) _exit(123);
      keep[j] = d;
    }
    for (int j = 0; j < nk; j++) {
      if (dup3(keep[j], 3 + j, O_CLOEXEC) < 0) _exit(123);
      keep[j] = 3 + j;
    }
    if (syscall(436 /* close_range */, 3 + nk, ~0U, 0) < 0)
      for (int fd = 3 + nk; fd < 1024; fd++) close(fd);
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) dup2(nul, 0), dup2(nul, 1), dup2(nul, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != g_monitor) _exit(127);
    prctl(PR_SET_NAME, "tspod-udpfwd", 0, 0, 0);
    udpfwd_run(keep, ctrs, n, keep[n], userns_fd >= 0 ? keep[n + 1] : -1);
  }
  for (int j = 0; j < n; j++) close(fds[j]);
  g_udp = p;
  return 0;
}

void net_stop(int wait) {
  if (g_udp > 0) {
    kill(g_udp, SIGKILL);
    if (wait) {
      while (waitpid(g_udp, NULL, 0) < 0 && errno == EINTR) {}
      g_udp = -1;
    }
  }
  if (g_exit_w >= 0) {
    close(g_exit_w);
    g_exit_w = -1;
  }
  if (g_state == NET_STARTING) {
    if (g_ready_r >= 0) close(g_ready_r);
    g_ready_r = -1;
    g_state = NET_FAILED;
  }
  if (g_helper > 0) {
    if (!g_killed) kill(g_helper, SIGKILL);
    g_killed = 1;
    unlink_api();
    if (!wait) return;
    while (waitpid(g_helper, NULL, 0) < 0 && errno == EINTR) {}
    g_helper = -1;
    if (g_pidfile) unlink(g_pidfile);
  }
}

int net_reaped(pid_t p) {
  if (p > 0 && p == g_udp) {
    g_udp = -1;
    return 1;
  }
  if (p <= 0 || p != g_helper) return 0;
  g_helper = -1;
  unlink_api();
  if (g_pidfile) unlink(g_pidfile);
  return 1;
}
