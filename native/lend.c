/*
 * Published TCP ports without a forwarder ("lent" sockets).
 *
 * A forwarder (pasta's -t, slirp4netns's hostfwd, Podman's rootlessport)
 * costs a second TCP connection and a third busy process for every byte:
 * 50 MiB through pasta took ~58 ms here against ~43 ms straight to a server
 * on the host (measured), and on 2 cores curl, the forwarder and the server
 * fight for CPU. Instead, the container's processes run under a seccomp
 * filter that hands every bind() to the monitor (SECCOMP_RET_USER_NOTIF).
 * When a TCP socket binds a published container port, the monitor makes a
 * socket in the host's network namespace, binds it to the published host
 * address and port, and puts it in place of the process's socket
 * (SECCOMP_IOCTL_NOTIF_ADDFD with SETFD): the server then listens and
 * accepts on the host itself, and sees each client's real address. Any other
 * bind() goes on as usual (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
 *
 * What keeps this safe and whole:
 * - A lent socket only ever binds the published host address and port; the
 *   address read from the process is used only to pick the port mapping.
 * - A socket of the host's namespace could connect to the host's loopback
 *   services once the process disconnects it (connect(AF_UNSPEC) turns a
 *   listener back into a closed socket). Every lent socket carries a socket
 *   filter, locked (SO_LOCK_FILTER: the container cannot remove it), that
 *   drops every segment with both SYN and ACK set: a server's listener and
 *   its connections never receive one, an outgoing connect needs one, so it
 *   never completes (whether by connect(), sendto(MSG_FASTOPEN) or io_uring).
 *   Some kernels refuse socket filters to unprivileged users (this CI's
 *   sandbox: EPERM); ports are lent only where pasta maps its gateway address
 *   to the host's loopback (its default, see src/network/setup.ts), which the
 *   container reaches anyway, so the filter is a second wall, not the only one.
 * - The host ports are bound by the monitor at start (SO_REUSEPORT, not
 *   listening, so they take no connections), under a lock file, so a second
 *   container asking for them fails at start; lent sockets join them (same
 *   user, SO_REUSEPORT) and the ports stay the container's while it runs.
 * - The container's own clients (wget localhost:80 inside it) reach the server
 *   through pasta's -T: the namespace's port forwarded to the host port.
 *   Every bind of that port in the container is lent, so nothing in the
 *   container competes with pasta's listener there.
 * - `tspod exec` processes get the same filter and pass its fd to the monitor.
 */
#include "common.h"
#include "kernel.h"
#include "lend.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

/* ---- the kernel's seccomp and classic BPF ABI (musl has no linux/ headers) ---- */
#define SECCOMP_SET_MODE_FILTER_ 1
#define SECCOMP_FILTER_FLAG_NEW_LISTENER_ (1UL << 3)
#define SECCOMP_RET_ALLOW_ 0x7fff0000U
#define SECCOMP_RET_USER_NOTIF_ 0x7fc00000U
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE_ (1U << 0)
#define SECCOMP_ADDFD_FLAG_SETFD_ (1U << 0)
struct seccomp_data_ {
  int nr;
  uint32_t arch;
  uint64_t instruction_pointer;
  uint64_t args[6];
};
struct seccomp_notif_ {
  uint64_t id;
  uint32_t pid;
  uint32_t flags;
  struct seccomp_data_ data;
};
struct seccomp_notif_resp_ {
  uint64_t id;
  int64_t val;
  int32_t error;
  uint32_t flags;
};
struct seccomp_notif_addfd_ {
  uint64_t id;
  uint32_t flags;
  uint32_t srcfd;
  uint32_t newfd;
  uint32_t newfd_flags;
};
#define NOTIF_RECV _IOWR('!', 0, struct seccomp_notif_)
#define NOTIF_SEND _IOWR('!', 1, struct seccomp_notif_resp_)
#define NOTIF_ID_VALID _IOW('!', 2, uint64_t)
#define NOTIF_ADDFD _IOW('!', 3, struct seccomp_notif_addfd_)

struct bpf_insn_ {
  uint16_t code;
  uint8_t jt, jf;
  uint32_t k;
};
struct bpf_prog_ {
  unsigned short len;
  struct bpf_insn_ *filter;
};
#define LD_W_ABS 0x20  /* BPF_LD | BPF_W | BPF_ABS */
#define LD_B_ABS 0x30  /* BPF_LD | BPF_B | BPF_ABS */
#define JEQ_K 0x15     /* BPF_JMP | BPF_JEQ | BPF_K */
#define JSET_K 0x45    /* BPF_JMP | BPF_JSET | BPF_K */
#define RET_K 0x06     /* BPF_RET | BPF_K */
#define INSN(c, t, f, v) ((struct bpf_insn_){(c), (t), (f), (v)})

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE 0xC000003EU
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE 0xC00000B7U
#else
#error "lend.c: unknown architecture"
#endif
#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif
#ifndef SO_ATTACH_FILTER
#define SO_ATTACH_FILTER 26
#endif
#ifndef SO_DOMAIN
#define SO_DOMAIN 39
#endif
#ifndef SO_PROTOCOL
#define SO_PROTOCOL 38
#endif
#define SYS_pidfd_open_ 434
#define SYS_pidfd_getfd_ 438

/* ---- the container side ---- */

int lend_install(void) {
  struct bpf_insn_ f[] = {
      INSN(LD_W_ABS, 0, 0, offsetof(struct seccomp_data_, arch)),
      INSN(JEQ_K, 1, 0, AUDIT_ARCH_NATIVE),
      INSN(RET_K, 0, 0, SECCOMP_RET_ALLOW_),
      INSN(LD_W_ABS, 0, 0, offsetof(struct seccomp_data_, nr)),
      INSN(JEQ_K, 0, 1, SYS_bind),
      INSN(RET_K, 0, 0, SECCOMP_RET_USER_NOTIF_),
      INSN(RET_K, 0, 0, SECCOMP_RET_ALLOW_),
  };
  struct bpf_prog_ p = {sizeof f / sizeof f[0], f};
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, SECCOMP_FILTER_FLAG_NEW_LISTENER_, &p);
}

int lend_send_fd(int sock, const void *data, size_t len, int fd) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = {(void *)data, len};
  struct msghdr m = {0};
  m.msg_iov = &iov, m.msg_iovlen = 1, m.msg_control = cbuf, m.msg_controllen = sizeof cbuf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do n = sendmsg(sock, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)len ? 0 : -1;
}

int lend_recv_fd(int sock, char *tag) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {tag, 1};
  struct msghdr m = {0};
  m.msg_iov = &iov, m.msg_iovlen = 1, m.msg_control = cbuf, m.msg_controllen = sizeof cbuf;
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != 1) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  errno = EBADMSG;
  return -1;
}

/* ---- the monitor side ---- */

/* "HOSTIP\tHOSTPORT\tCTRPORT\tCOUNT": HOSTIP "" (every address) or 127.0.0.1 */
struct lent {
  int loopback;
  int host, ctr, count;
};
static struct lent g_lent[64];
static int g_nlent;
static int g_listeners[LEND_MAX_LISTENERS];
static int g_nlisteners;
static int g_resv[128];
static int g_nresv;

static void parse_lent(const struct spec *s) {
  if (g_nlent) return;
  for (int i = 0; i < s->nnet_lend && g_nlent < (int)(sizeof g_lent / sizeof g_lent[0]); i++) {
    char ip[64] = "";
    int h = 0, c = 0, n = 0;
    const char *r = s->net_lend[i];
    const char *tab = strchr(r, '\t');
    if (!tab || (size_t)(tab - r) >= sizeof ip) continue;
    memcpy(ip, r, (size_t)(tab - r));
    if (sscanf(tab + 1, "%d\t%d\t%d", &h, &c, &n) != 3 || h <= 0 || c <= 0 || n <= 0) continue;
    g_lent[g_nlent++] = (struct lent){!strcmp(ip, "127.0.0.1"), h, c, n};
  }
}

/* Bind fd (a TCP socket of the host's namespace, family fam) to the published
   port, with SO_REUSEPORT so it joins the monitor's hold on it. */
static int host_bind(int fd, int fam, int loopback, int v6only, int port) {
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) return -1;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (fam == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET, a->sin_port = htons((uint16_t)port);
    a->sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6, a->sin6_port = htons((uint16_t)port);
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) return -1;
    /* 127.0.0.1 for a v6-only socket: ::1, the same host-only reach */
    if (loopback && v6only) a->sin6_addr = in6addr_loopback;
    else if (loopback) inet_pton(AF_INET6, "::ffff:127.0.0.1", &a->sin6_addr);
    len = sizeof *a;
  }
  return bind(fd, (struct sockaddr *)&ss, len);
}

/* The monitor's hold on a port: bound, not listening (it takes no connections). */
static int hold(int fam, int loopback, int port, int reuseaddr) {
  int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) return -1;
  if ((reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) || host_bind(fd, fam, loopback, 1, port) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int lend_lock(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) flock(fd, LOCK_EX);
  return fd;
}

int lend_reserve(const struct spec *s, char *err, size_t errlen) {
  parse_lent(s);
  int rc = 0;
  for (int i = 0; i < g_nlent && !rc; i++)
    for (int k = 0; k < g_lent[i].count && !rc; k++) {
      int port = g_lent[i].host + k, fams[2] = {AF_INET, AF_INET6};
      for (int f = 0; f < (g_lent[i].loopback ? 1 : 2) && !rc; f++) {
        int fd = hold(fams[f], g_lent[i].loopback, port, 0);
        /* only a TIME_WAIT connection of a socket without SO_REUSEPORT is left (the port is free) */
        if (fd < 0 && errno == EADDRINUSE) fd = hold(fams[f], g_lent[i].loopback, port, 1);
        if (fd < 0 && fams[f] == AF_INET6 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) continue; /* no IPv6 here */
        if (fd < 0 || g_nresv >= (int)(sizeof g_resv / sizeof g_resv[0])) {
          int e = fd < 0 ? errno : EMFILE;
          if (fd >= 0) close(fd);
          const char *addr = g_lent[i].loopback ? "127.0.0.1" : f ? "[::]" : "0.0.0.0";
          if (e == EADDRINUSE) snprintf(err, errlen, "cannot publish port %s:%d/tcp: the host port is already in use", addr, port);
          else snprintf(err, errlen, "cannot publish port %s:%d/tcp: %s", addr, port, strerror(e));
          while (g_nresv) close(g_resv[--g_nresv]);
          errno = e;
          rc = -1;
        } else {
          g_resv[g_nresv++] = fd;
        }
      }
    }
  return rc;
}

void lend_watch(const struct spec *s, int fd) {
  parse_lent(s);
  if (g_nlisteners >= LEND_MAX_LISTENERS) {
    dprintf(2, "lend: too many processes with their own filter: one more is not served\n");
    close(fd);
    return;
  }
  g_listeners[g_nlisteners++] = fd;
}

int lend_fds(int *fds, int max) {
  int n = 0;
  for (int i = 0; i < g_nlisteners && n < max; i++) fds[n++] = g_listeners[i];
  return n;
}

static void forget(int fd) {
  for (int i = 0; i < g_nlisteners; i++)
    if (g_listeners[i] == fd) {
      close(fd);
      g_listeners[i] = g_listeners[--g_nlisteners];
      return;
    }
}

/* The segments a lent socket takes: anything but SYN+ACK (see the top of this file). */
static int lock_filter(int fd) {
  struct bpf_insn_ f[] = {
      INSN(LD_B_ABS, 0, 0, 13),   /* TCP flags */
      INSN(JSET_K, 0, 2, 0x02),   /* SYN? */
      INSN(JSET_K, 0, 1, 0x10),   /* and ACK? */
      INSN(RET_K, 0, 0, 0),       /* drop */
      INSN(RET_K, 0, 0, 0xffffffffU),
  };
  struct bpf_prog_ p = {sizeof f / sizeof f[0], f};
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof p) < 0) return -1;
  return setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof one);
}

/* Options a server commonly sets before bind(), carried from its socket to the lent one. */
static void copy_options(int from, int to) {
  static const struct {
    int level, name;
  } opts[] = {
      {SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_KEEPALIVE}, {SOL_SOCKET, SO_RCVLOWAT},
      {IPPROTO_TCP, TCP_NODELAY}, {IPPROTO_TCP, TCP_DEFER_ACCEPT}, {IPPROTO_TCP, TCP_FASTOPEN},
      {IPPROTO_TCP, TCP_KEEPIDLE}, {IPPROTO_TCP, TCP_KEEPINTVL}, {IPPROTO_TCP, TCP_KEEPCNT},
  };
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    int v = 0;
    socklen_t l = sizeof v;
    int d = 0;
    socklen_t dl = sizeof d;
    if (getsockopt(from, opts[i].level, opts[i].name, &v, &l) < 0) continue;
    if (getsockopt(to, opts[i].level, opts[i].name, &d, &dl) == 0 && d == v) continue;
    setsockopt(to, opts[i].level, opts[i].name, &v, l);
  }
}

/* close-on-exec of the process's fd, from /proc/PID/fdinfo/FD ("flags:\t0NNNNNN", octal) */
static int fd_cloexec(pid_t pid, int fd) {
  char p[64], buf[256];
  snprintf(p, sizeof p, "/proc/%d/fdinfo/%d", (int)pid, fd);
  int f = open(p, O_RDONLY | O_CLOEXEC);
  if (f < 0) return 0;
  ssize_t n = read(f, buf, sizeof buf - 1);
  close(f);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *fl = strstr(buf, "flags:");
  return fl && (strtoul(fl + 6, NULL, 8) & O_CLOEXEC);
}

static void respond(int nfd, uint64_t id, int err, int cont) {
  struct seccomp_notif_resp_ r = {id, 0, err ? -err : 0, cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE_ : 0};
  if (ioctl(nfd, NOTIF_SEND, &r) < 0 && errno != ENOENT) dprintf(2, "lend: answer: %s\n", strerror(errno));
}

/* Is this bind one to lend? Then the host port, with *loopback; else 0. */
static int published(const struct sockaddr_storage *ss, int *loopback) {
  int port = ntohs(((const struct sockaddr_in *)ss)->sin_port); /* same place in sockaddr_in6 */
  for (int i = 0; i < g_nlent; i++)
    if (port >= g_lent[i].ctr && port < g_lent[i].ctr + g_lent[i].count) {
      *loopback = g_lent[i].loopback;
      return g_lent[i].host + (port - g_lent[i].ctr);
    }
  return 0;
}

static void handle(int nfd) {
  struct seccomp_notif_ req;
  memset(&req, 0, sizeof req);
  if (ioctl(nfd, NOTIF_RECV, &req) < 0) {
    if (errno != EINTR && errno != ENOENT) forget(nfd);
    return;
  }
  pid_t pid = (pid_t)req.pid;
  int tfd = (int)req.data.args[0];
  uint64_t alen = req.data.args[2];
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (alen < sizeof(struct sockaddr_in) || alen > sizeof ss) return respond(nfd, req.id, 0, 1);
  struct iovec li = {&ss, (size_t)alen}, ri = {(void *)(uintptr_t)req.data.args[1], (size_t)alen};
  if (process_vm_readv(pid, &li, 1, &ri, 1, 0) != (ssize_t)alen) return respond(nfd, req.id, 0, 1);
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return respond(nfd, req.id, 0, 1);
  int loopback = 0, hport = published(&ss, &loopback);
  if (!hport) return respond(nfd, req.id, 0, 1);
  /* the socket itself: a TCP one? (pidfd_getfd: a copy of the process's fd) */
  int pidfd = (int)syscall(SYS_pidfd_open_, pid, 0);
  if (pidfd < 0) return respond(nfd, req.id, 0, 1);
  if (ioctl(nfd, NOTIF_ID_VALID, &req.id) < 0) { /* pid reused: that process is gone */
    close(pidfd);
    return;
  }
  int sfd = (int)syscall(SYS_pidfd_getfd_, pidfd, tfd, 0);
  close(pidfd);
  if (sfd < 0) return respond(nfd, req.id, 0, 1);
  int dom = 0, type = 0, proto = 0;
  socklen_t l = sizeof dom;
  getsockopt(sfd, SOL_SOCKET, SO_DOMAIN, &dom, &l);
  l = sizeof type;
  getsockopt(sfd, SOL_SOCKET, SO_TYPE, &type, &l);
  l = sizeof proto;
  getsockopt(sfd, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
  if (type != SOCK_STREAM || dom != ss.ss_family || (proto != IPPROTO_TCP && proto != 0)) {
    close(sfd);
    return respond(nfd, req.id, 0, 1);
  }
  int v6only = 0;
  if (dom == AF_INET6) {
    l = sizeof v6only;
    getsockopt(sfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l);
  }
  int hs = socket(dom, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP), e = 0;
  if (hs < 0) {
    e = errno;
    close(sfd);
    return respond(nfd, req.id, e, 0);
  }
  copy_options(sfd, hs);
  /* always: its connections' TIME_WAIT then keeps no one from binding the port
     again once the container is gone (as with pasta's sockets, which have it) */
  int on = 1;
  setsockopt(hs, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  int fl = fcntl(sfd, F_GETFL);
  close(sfd);
  if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(hs, F_SETFL, O_NONBLOCK);
  static int warned;
  if (lock_filter(hs) < 0 && !warned++)
    dprintf(2, "lend: no socket filter on lent sockets (%s): the container reaches the host's loopback through them, as through pasta's gateway address\n", strerror(errno));
  if (host_bind(hs, dom, loopback, v6only, hport) < 0) {
    e = errno;
    close(hs);
    return respond(nfd, req.id, e, 0);
  }
  struct seccomp_notif_addfd_ af = {req.id, SECCOMP_ADDFD_FLAG_SETFD_, (uint32_t)hs, (uint32_t)tfd, fd_cloexec(pid, tfd) ? O_CLOEXEC : 0};
  int r = ioctl(nfd, NOTIF_ADDFD, &af);
  e = r < 0 ? errno : 0;
  close(hs);
  if (r < 0) {
    if (e != ENOENT) dprintf(2, "lend: put the socket in place: %s\n", strerror(e));
    return respond(nfd, req.id, e == ENOENT ? 0 : e, 0);
  }
  respond(nfd, req.id, 0, 0);
}

void lend_event(int fd, short revents) {
  if (revents & POLLIN) handle(fd);
  else if (revents & (POLLHUP | POLLERR | POLLNVAL)) forget(fd); /* every process under it is gone */
}

void lend_release(void) {
  while (g_nresv) close(g_resv[--g_nresv]);
  while (g_nlisteners) close(g_listeners[--g_nlisteners]);
}
