/*
 * Published TCP ports without a forwarder ("lent" sockets).
 *
 * A forwarder (pasta's -t, slirp4netns's hostfwd, Podman's rootlessport)
 * costs a second TCP connection and a third busy process for every byte:
 * 50 MiB through pasta took ~58 ms here against ~43 ms straight to a server
 * on the host (measured), and on 2 cores curl, the forwarder and the server
 * fight for CPU. Instead, the container's processes run under a seccomp
 * filter that hands bind(), listen() and connect() to the monitor
 * (SECCOMP_RET_USER_NOTIF). When a TCP socket binds a published container
 * port, the monitor makes a socket in the host's network namespace, binds it
 * to the published host address and port, and puts it in place of the
 * process's socket (SECCOMP_IOCTL_NOTIF_ADDFD with SETFD): the server then
 * listens and accepts on the host itself, and sees each client's real address.
 *
 * What keeps this safe. A socket of the host's namespace in a container (one
 * lent, or a connection it accepted) must serve its port and nothing else: no
 * connecting out from the host, no other host port. The monitor cannot simply
 * check a call and let it go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE): the kernel
 * looks the fd up again after the answer, and another thread may have put a
 * lent socket under that number meanwhile (dup2 in a loop wins that race in
 * ~70 ms, measured). So:
 * - Landlock (ABI 4, Linux 6.7) denies every TCP bind() and connect() the
 *   container's processes make themselves, whatever the socket (TCP Fast Open
 *   sends too). The monitor makes them instead, on its own copy of the
 *   socket (pidfd_getfd) that it checked: a socket of the container's own
 *   namespace binds (its low ports only with CAP_NET_BIND_SERVICE, as there)
 *   and connects (in a worker thread of the monitor, so the
 *   monitor goes on); one of the host's is refused (EACCES). Other sockets'
 *   calls go on in the process (CONTINUE): a unix socket's bind, connect and
 *   listen must carry the process's own credentials. A lent socket swapped in
 *   under such a call is still a TCP socket: Landlock refuses it.
 * - listen() on a socket of the host's namespace: only a lent one, and the
 *   monitor makes the call on its copy. The monitor reads the calling
 *   thread's own fd table (a thread may have one), as the kernel does.
 * - What a swapped-in call can still do to a host socket: connect(AF_UNSPEC)
 *   (Landlock lets every process drop a connection) and listen(). A lent
 *   socket keeps its port (it was bound to it); an accepted connection that
 *   was dropped has none, and listen() would give it one of the host's: every
 *   lent socket's own port range (IP_LOCAL_PORT_RANGE, inherited by its
 *   connections) is one port the monitor holds, so that fails (EADDRINUSE; see
 *   reserve_sink); the container may not change that option (ENOPROTOOPT, as a
 *   kernel without it says).
 * - TCP Fast Open sends (MSG_FASTOPEN) answer EOPNOTSUPP, as with fast open
 *   off: callers fall back to connect() (a 32-bit program's through
 *   socketcall(2), whose flags the filter cannot see: EACCES, Landlock's).
 *   io_uring is refused (ENOSYS), as in Docker's default profile: its
 *   operations pass by seccomp. 32-bit x86 programs are watched alike;
 *   socketcall(2)'s arguments are in memory, which the monitor copies: its
 *   setsockopt is checked and goes on, so a 32-bit program racing that check
 *   could change its sockets' port range (then only listen() again on its own
 *   port). x32 is refused.
 * - The monitor's own work stays short whatever the container does: connects
 *   are made by worker threads (see connect_for), the rest never blocks.
 * - Where the kernel lets the monitor (root) attach one, every lent socket
 *   also carries a locked socket filter that drops SYN+ACK: a lent socket
 *   handed out of the container (SCM_RIGHTS) cannot connect anywhere either.
 *   Rootless, Linux refuses socket filters on TCP sockets to users: a lent
 *   socket handed to a process outside any lending container (another
 *   container sharing a unix socket or its pid namespace with this one) can
 *   connect out from the host's namespace. And whoever it is handed to (a
 *   lending container too) holds it: the port stays taken while it does, after
 *   this container is gone (starting this one again then fails: port in use).
 * - The host ports are bound by the monitor at start (SO_REUSEPORT, not
 *   listening, so they take no connections), under a lock every monitor of the
 *   user takes, so a second container asking for them fails at start; lent
 *   sockets join them (same user, SO_REUSEPORT) and the ports stay the
 *   container's while it runs. (A process of the same user on the host, or a
 *   --network host container of it, could join them with SO_REUSEPORT too.)
 * - The container's own clients (wget localhost:80, or its host name, inside
 *   it) get a socket of the host's connected to the host port (see
 *   self_connect): on the host's loopback, whose addresses (127.0.0.1 and ::1)
 *   the monitor holds for every published port, so no other process of the
 *   host can be there first. A call a signal interrupts is answered on its
 *   restart (one connection made, never a second), and a second connect() on
 *   such a socket answers as the kernel's would (EALREADY, EISCONN). pasta's -T (the namespace's loopback port forwarded to the
 *   host port) stays for what does not pass the monitor. Every bind of that
 *   port in the container is lent, so nothing in the container competes with
 *   pasta's listener there; a container port published twice is left to
 *   pasta (src/network/setup.ts).
 * - `tspod exec` processes get the same Landlock domain and filter and pass its
 *   fd to the monitor (no monitor: no exec). A container joining this one's
 *   network (container:NAME, a pod's members) serves its ports the same way,
 *   through its own monitor; it ends when the container it joined ends, so
 *   that nothing lent in that network outlives it (see lend_revoke).
 */
#include "common.h"
#include "kernel.h"
#include "lend.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

/* ---- the kernel's seccomp and classic BPF ABI (musl has no linux/ headers) ---- */
#define SECCOMP_SET_MODE_FILTER_ 1
#define SECCOMP_FILTER_FLAG_NEW_LISTENER_ (1UL << 3)
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV_ (1UL << 5)
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
#define NOTIF_SET_FLAGS _IOW('!', 4, uint64_t)
#define USER_NOTIF_FD_SYNC_WAKE_UP 1

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
#define LD_H_ABS 0x28  /* BPF_LD | BPF_H | BPF_ABS */
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
#define PIDFD_THREAD_ 0x80 /* O_EXCL: a thread's pidfd (6.9) */
#define SYS_pidfd_getfd_ 438

/* ---- the container side ---- */

#define MSG_FASTOPEN_ 0x20000000U
#define ERRNO_(e) (0x00050000U | (e)) /* SECCOMP_RET_ERRNO */
#define JGE_K 0x35                    /* BPF_JMP | BPF_JGE | BPF_K */
#define JA 0x05                       /* BPF_JMP | BPF_JA */
#define ARG_LO(i) (offsetof(struct seccomp_data_, args) + 8 * (i)) /* little-endian: the low word */
#define IP_LOCAL_PORT_RANGE_ 51 /* SOL_IP (0); Linux 6.3 */
#define IPPROTO_MPTCP_ 262

/* Landlock (musl has no linux/landlock.h): the same numbers on every architecture */
#define SYS_landlock_create_ruleset_ 444
#define SYS_landlock_restrict_self_ 446
#define LANDLOCK_ACCESS_NET_BIND_TCP_ 1ULL
#define LANDLOCK_ACCESS_NET_CONNECT_TCP_ 2ULL
struct landlock_ruleset_attr_ {
  uint64_t handled_access_fs, handled_access_net;
};

int lend_landlock_abi(void) {
  return (int)syscall(SYS_landlock_create_ruleset_, NULL, 0, 1U /* LANDLOCK_CREATE_RULESET_VERSION */);
}

/* This process and all it starts may neither bind() nor connect() a TCP socket themselves. */
static int deny_tcp(void) {
  if (lend_landlock_abi() < 4) {
    if (errno == 0 || errno == ENOSYS) errno = EOPNOTSUPP;
    return -1;
  }
  struct landlock_ruleset_attr_ a = {0, LANDLOCK_ACCESS_NET_BIND_TCP_ | LANDLOCK_ACCESS_NET_CONNECT_TCP_};
  int rs = (int)syscall(SYS_landlock_create_ruleset_, &a, sizeof a, 0);
  if (rs < 0) return -1;
  int r = (int)syscall(SYS_landlock_restrict_self_, rs, 0);
  int e = errno;
  close(rs);
  errno = e;
  return r;
}

static int lock_filter(int fd, int from_port);
static struct bpf_insn_ g_prog[128];
static unsigned g_n;
static void emit(uint16_t c, uint8_t t, uint8_t f, uint32_t k) { g_prog[g_n++] = INSN(c, t, f, k); }
/* nr == k: return ret */
static void on_nr(uint32_t nr, uint32_t ret) {
  emit(JEQ_K, 0, 1, nr);
  emit(RET_K, 0, 0, ret);
}
/* nr == k with MSG_FASTOPEN in its flags argument: as with fast open off (EOPNOTSUPP) */
static void on_fastopen(uint32_t nr, int arg) {
  emit(JEQ_K, 0, 4, nr);
  emit(LD_W_ABS, 0, 0, (uint32_t)ARG_LO(arg));
  emit(JSET_K, 0, 1, MSG_FASTOPEN_);
  emit(RET_K, 0, 0, ERRNO_(EOPNOTSUPP));
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
}
/* setsockopt(fd, SOL_IP, IP_LOCAL_PORT_RANGE, ...): as a kernel without it (ENOPROTOOPT) */
static void on_setsockopt(uint32_t nr) {
  emit(JEQ_K, 0, 6, nr);
  emit(LD_W_ABS, 0, 0, (uint32_t)ARG_LO(1));
  emit(JEQ_K, 0, 3, 0 /* SOL_IP */);
  emit(LD_W_ABS, 0, 0, (uint32_t)ARG_LO(2));
  emit(JEQ_K, 0, 1, IP_LOCAL_PORT_RANGE_);
  emit(RET_K, 0, 0, ERRNO_(ENOPROTOOPT));
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
}

/* socket(domain, ...) with a domain other than AF_UNIX: to the monitor (net.lazy) */
static void on_socket(uint32_t nr) {
  emit(JEQ_K, 0, 4, nr);
  emit(LD_W_ABS, 0, 0, (uint32_t)ARG_LO(0));
  emit(JEQ_K, 1, 0, AF_UNIX);
  emit(RET_K, 0, 0, SECCOMP_RET_USER_NOTIF_);
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
}

#if defined(__x86_64__)
/* socketcall(call, args), 32-bit x86: these calls to the monitor (their arguments are in memory) */
static void on_socketcall(const uint32_t *calls, int n) {
  emit(JEQ_K, 0, (uint8_t)(n + 3), 102);
  emit(LD_W_ABS, 0, 0, (uint32_t)ARG_LO(0));
  for (int i = 0; i < n; i++) emit(JEQ_K, (uint8_t)(n - i), 0, calls[i]);
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
  emit(RET_K, 0, 0, SECCOMP_RET_USER_NOTIF_);
}
#endif

/*
 * A new filter's start: the native architecture's calls go on to what follows
 * (nr loaded); 32-bit x86 jumps to the index returned, to be patched (x86-64
 * only); any other architecture is allowed.
 */
static unsigned start_filter(void) {
  unsigned to_i386 = 0;
  g_n = 0;
  emit(LD_W_ABS, 0, 0, offsetof(struct seccomp_data_, arch));
#if defined(__x86_64__)
  emit(JEQ_K, 0, 1, 0x40000003U /* AUDIT_ARCH_I386 */);
  to_i386 = g_n;
  emit(JA, 0, 0, 0); /* patched by the caller */
#endif
  emit(JEQ_K, 1, 0, AUDIT_ARCH_NATIVE);
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
  emit(LD_W_ABS, 0, 0, offsetof(struct seccomp_data_, nr));
  return to_i386;
}

int lend_what(const struct spec *s) {
  if (s->pause) return 0;
  return (s->nnet_lend ? LEND_TCP : 0) | (s->net_lazy ? LEND_NET : 0);
}

/*
 * LEND_TCP: the Landlock domain (no TCP bind or connect of the process's own),
 * then the filter: bind(), listen() and connect() go to the monitor; the rest
 * as said at the top of this file. LEND_NET: socket() too (see lend_net_lazy).
 * Called while this process may still (root of its user namespace). Returns
 * the notification fd.
 */
int lend_install(int what) {
  int tcp = what & LEND_TCP, net = what & LEND_NET;
  if (tcp && deny_tcp() < 0) return -1;
  unsigned to_i386 = start_filter();
  (void)to_i386; /* (used on x86-64 only) */
  if (net) on_socket(SYS_socket);
  /* io_uring makes sockets past seccomp: its setup waits for the network too (with
     published ports it is refused, below) */
  if (net && !tcp) on_nr(425 /* io_uring_setup */, SECCOMP_RET_USER_NOTIF_);
#if defined(__x86_64__)
  /* x32: refused with published ports; else its socket() and io_uring wait like the others */
  if (net) on_nr(0x40000000U | SYS_socket, SECCOMP_RET_USER_NOTIF_);
  if (net && !tcp) on_nr(0x40000000U | 425, SECCOMP_RET_USER_NOTIF_);
  if (tcp) {
    emit(JGE_K, 0, 1, 0x40000000U); /* x32 */
    emit(RET_K, 0, 0, ERRNO_(ENOSYS));
  }
#endif
  if (tcp) {
    on_nr(SYS_bind, SECCOMP_RET_USER_NOTIF_);
    on_nr(SYS_listen, SECCOMP_RET_USER_NOTIF_);
    on_nr(SYS_connect, SECCOMP_RET_USER_NOTIF_);
    on_nr(425 /* io_uring_setup */, ERRNO_(ENOSYS));
    on_fastopen(SYS_sendto, 3);
    on_fastopen(SYS_sendmsg, 2);
    on_fastopen(SYS_sendmmsg, 3);
    on_setsockopt(SYS_setsockopt);
  }
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
#if defined(__x86_64__)
  g_prog[to_i386].k = g_n - to_i386 - 1;
  emit(LD_W_ABS, 0, 0, offsetof(struct seccomp_data_, nr));
  /* socketcall(call, args): socket (every domain: it is in memory), bind, connect,
     listen and setsockopt to the monitor */
  uint32_t calls[5];
  int nc = 0;
  if (net) calls[nc++] = 1 /* SYS_SOCKET */;
  if (tcp) calls[nc++] = 2 /* SYS_BIND */, calls[nc++] = 3 /* SYS_CONNECT */, calls[nc++] = 4 /* SYS_LISTEN */, calls[nc++] = 14 /* SYS_SETSOCKOPT */;
  on_socketcall(calls, nc);
  if (net) on_socket(359);
  if (net && !tcp) on_nr(425 /* io_uring_setup */, SECCOMP_RET_USER_NOTIF_);
  if (tcp) {
    on_nr(361 /* bind */, SECCOMP_RET_USER_NOTIF_);
    on_nr(363 /* listen */, SECCOMP_RET_USER_NOTIF_);
    on_nr(362 /* connect */, SECCOMP_RET_USER_NOTIF_);
    on_nr(425 /* io_uring_setup */, ERRNO_(ENOSYS));
    on_fastopen(369 /* sendto */, 3);
    on_fastopen(370 /* sendmsg */, 2);
    on_fastopen(345 /* sendmmsg */, 3);
    on_setsockopt(366);
  }
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
#endif
  struct bpf_prog_ p = {(unsigned short)g_n, g_prog};
  /* Without published ports, a call held until the network is up is not taken
     back by a signal once the monitor has it (5.19): socket() never fails EINTR
     (a connect() of lend.c's must stay interruptible, as the kernel's is). */
  if (!tcp) {
    int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, SECCOMP_FILTER_FLAG_NEW_LISTENER_ | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV_, &p);
    if (fd >= 0 || errno != EINVAL) return fd;
  }
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, SECCOMP_FILTER_FLAG_NEW_LISTENER_, &p);
}

/*
 * The kernel's keyrings belong to a user in a user namespace, nothing else a
 * container has of its own: as root (no user namespace) a container would reach
 * root's user keyring on the host, and containers of one user namespace each
 * other's. As under Docker's default seccomp profile, add_key, request_key
 * and keyctl fail, with ENOSYS as Podman's profile makes add_key and
 * request_key fail (Podman lets keyctl through: as root, a container could then
 * read root's user keyring on the host, "@u"). 32-bit x86 and x32 calls alike.
 * Installed while the process may (root of its user namespace).
 */
static int keys_filter_install(void) {
  unsigned to_i386 = start_filter();
  (void)to_i386; /* (used on x86-64 only) */
  const uint32_t nrs[] = {SYS_add_key, SYS_request_key, SYS_keyctl};
  for (int i = 0; i < 3; i++) {
    on_nr(nrs[i], ERRNO_(ENOSYS));
#if defined(__x86_64__)
    on_nr(0x40000000U | nrs[i], ERRNO_(ENOSYS)); /* x32 */
#endif
  }
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
#if defined(__x86_64__)
  g_prog[to_i386].k = g_n - to_i386 - 1;
  emit(LD_W_ABS, 0, 0, offsetof(struct seccomp_data_, nr));
  for (uint32_t nr = 286; nr <= 288; nr++) on_nr(nr, ERRNO_(ENOSYS)); /* add_key, request_key, keyctl */
  emit(RET_K, 0, 0, SECCOMP_RET_ALLOW_);
#endif
  struct bpf_prog_ p = {(unsigned short)g_n, g_prog};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, 0, &p) == 0) return 0;
  return errno == EINVAL ? 0 : -1; /* a kernel without seccomp filters: nothing to install */
}

int keys_confine(int unconfined) {
  /* A session keyring of its own, as crun and runc give each container: not the
     one it came with (root's, as root), which seccomp=unconfined would open to it.
     Best effort: no keyrings in this kernel, or a user's key quota reached. */
  syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL);
  return unconfined ? 0 : keys_filter_install();
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
  int fd = lend_cmsg_fd(&m);
  if (fd < 0) errno = EBADMSG;
  return fd;
}

int lend_cmsg_fd(struct msghdr *m) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  return -1;
}

/* ---- the monitor side ---- */

/* "HOSTIP\tHOSTPORT\tCTRPORT\tCOUNT": HOSTIP "" (every address), 127.0.0.1, or
   another address of the host's (fam: its family, else 0) */
struct lent {
  int loopback;
  int host, ctr, count;
  int fam;
  struct in_addr a4;
  struct in6_addr a6;
};
static struct lent g_lent[LEND_MAX_RANGES];
static int g_nlent;
/* container ports a server was lent on (published on one address of the host's, the
   container's own clients are sent there only then: else a server of its own serves them) */
static uint8_t g_served[65536 / 8];
/* container ports published on the host's loopback that a dual-stack server was lent on
   (bound to :: in the container; at ::ffff:127.0.0.1 on the host): the container's own
   clients of [::1] go there, as the kernel takes them to such a server in the container
   (else to [::1]: a v6-only server listens there, or nothing, refused as an IPv4 server
   would refuse them) */
static uint8_t g_dual[65536 / 8];
static int port_in(const uint8_t *map, int port) { return map[port >> 3] & (1u << (port & 7)); }
static void port_add(uint8_t *map, int port) { map[port >> 3] |= (uint8_t)(1u << (port & 7)); }
static int g_listeners[LEND_MAX_LISTENERS];
static int g_nlisteners;
static int g_resv[2 * LEND_MAX_PORTS];
static int g_nresv;
#define GIVEN_MAX 65536
static ino_t *g_given;           /* every socket lent (its inode): they may listen */
static unsigned g_ngiven, g_capgiven;
static int g_revoked;            /* the network's owner is gone (lend_revoke): nothing more is lent */
static int g_unpriv_port = 1024; /* net.ipv4.ip_unprivileged_port_start in the container */
static uint64_t g_host_cookie;   /* the host's network namespace (the monitor's): SO_NETNS_COOKIE */

static void parse_lent(const struct spec *s) {
  if (g_nlent) return;
  for (int i = 0; i < s->nnet_lend && g_nlent < LEND_MAX_RANGES; i++) {
    char ip[64] = "";
    int h = 0, c = 0, n = 0;
    const char *r = s->net_lend[i];
    const char *tab = strchr(r, '\t');
    if (!tab || (size_t)(tab - r) >= sizeof ip) continue;
    memcpy(ip, r, (size_t)(tab - r));
    if (sscanf(tab + 1, "%d\t%d\t%d", &h, &c, &n) != 3 || h <= 0 || c <= 0 || n <= 0) continue;
    struct lent l = {!strcmp(ip, "127.0.0.1"), h, c, n, 0, {0}, IN6ADDR_ANY_INIT};
    if (ip[0] && !l.loopback) {
      if (inet_pton(AF_INET, ip, &l.a4) == 1) l.fam = AF_INET;
      else if (inet_pton(AF_INET6, ip, &l.a6) == 1) l.fam = AF_INET6;
      else continue; /* (src/network/setup.ts writes none such) */
    }
    g_lent[g_nlent++] = l;
  }
  for (int i = 0; i < s->nsysctls; i++)
    if (!strncmp(s->sysctls[i], "net.ipv4.ip_unprivileged_port_start=", 36)) g_unpriv_port = atoi(s->sysctls[i] + 36);
}

/* The published address of l for a socket of family fam (port 0): *ss, its length;
   0 when a socket of that family cannot have it (an IPv6 address for an IPv4
   socket, an IPv4 one for a v6-only socket). */
static socklen_t host_addr(const struct lent *l, int fam, int loopback, int v6only, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (fam == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    if (l->fam == AF_INET6) return 0;
    a->sin_addr.s_addr = l->fam ? l->a4.s_addr : htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    return sizeof *a;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
  a->sin6_family = AF_INET6;
  if (l->fam == AF_INET6) a->sin6_addr = l->a6;
  else if (l->fam == AF_INET || loopback) { /* an IPv4 address, v4-mapped */
    /* 127.0.0.1 for a v6-only socket: ::1, the same host-only reach */
    if (v6only && !l->fam) a->sin6_addr = in6addr_loopback;
    else if (v6only) return 0;
    else {
      a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
      uint32_t v4 = l->fam ? l->a4.s_addr : htonl(INADDR_LOOPBACK);
      memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
    }
  }
  return sizeof *a;
}

/* Bind fd (a TCP socket of the host's namespace, family fam) to the published
   address and port, with SO_REUSEPORT so it joins the monitor's hold on it. */
static int host_bind(int fd, int fam, const struct lent *l, int loopback, int v6only, int port) {
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) return -1;
  if (fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) return -1;
  struct sockaddr_storage ss;
  socklen_t len = host_addr(l, fam, loopback, v6only, &ss);
  if (!len) {
    errno = EADDRNOTAVAIL;
    return -1;
  }
  ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port); /* (the same place in sockaddr_in6) */
  return bind(fd, (struct sockaddr *)&ss, len);
}

/* The monitor's hold on a port: bound, not listening (it takes no connections). */
static int hold(int fam, const struct lent *l, int port, int reuseaddr) {
  int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) return -1;
  if ((reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) || host_bind(fd, fam, l, l->loopback, 1, port) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  /* bound past a TIME_WAIT: without SO_REUSEADDR from now on, or another user's
     socket with it could bind the port beside this one (not listening) and listen */
  int zero = 0;
  if (reuseaddr) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero);
  return fd;
}

/*
 * Every monitor of this user takes it around checking and holding its ports,
 * whatever its store: an abstract unix socket name in the host's namespace
 * (bound = held; it goes with the fd, however the monitor ends). Another user
 * squatting the name only makes this wait 2 s and go on without it.
 */
int lend_lock(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "tspod-ports-%u", (unsigned)getuid());
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
  for (int i = 0; i < 2000; i++) {
    if (bind(fd, (struct sockaddr *)&a, len) == 0) return fd;
    if (errno != EADDRINUSE) break;
    usleep(1000);
  }
  close(fd);
  return -1;
}

/*
 * The port a lent socket's connections may take for themselves: one of the
 * host's ephemeral ports that this monitor holds, on every address (IPv4 and
 * IPv6, no SO_REUSEADDR or SO_REUSEPORT), so none can. It is every lent
 * socket's IP_LOCAL_PORT_RANGE, which its connections inherit: a connection
 * dropped (connect(AF_UNSPEC), which Landlock lets any process do) has no port,
 * and listen() would bind it one of the host's, a port squatted on 0.0.0.0
 * (an exploratory run did; listen() then fails, EINVAL, but the port stays
 * taken). The kernel honours a socket's own range only inside
 * net.ipv4.ip_local_port_range, hence a port from there.
 */
static int g_sink[2] = {-1, -1}, g_sink_port;

static int reserve_sink(void) {
  for (int tries = 0; tries < 16 && g_sink_port == 0; tries++) {
    int v4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), v6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};
    socklen_t l = sizeof a;
    if (v4 >= 0 && bind(v4, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(v4, (struct sockaddr *)&a, &l) == 0) {
      b.sin6_port = a.sin_port;
      if (v6 < 0 || (setsockopt(v6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0 && bind(v6, (struct sockaddr *)&b, sizeof b) == 0) ||
          errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) { /* (no IPv6 here: nothing to hold there) */
        g_sink[0] = v4, g_sink[1] = v6, g_sink_port = ntohs(a.sin_port);
        return 0;
      }
    }
    if (v4 >= 0) close(v4);
    if (v6 >= 0) close(v6);
  }
  return g_sink_port ? 0 : -1;
}

int lend_reserve(const struct spec *s, char *err, size_t errlen) {
  parse_lent(s);
  if (g_nlent && reserve_sink() < 0) {
    snprintf(err, errlen, "cannot hold a port of the host for the published ports' connections: %s", strerror(errno));
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < g_nlent && !rc; i++)
    for (int k = 0; k < g_lent[i].count && !rc; k++) {
      int port = g_lent[i].host + k, fams[2] = {AF_INET, AF_INET6};
      /* both families, a loopback publish too (127.0.0.1 and ::1): a v6-only server is
         lent ::1, and the container's own IPv6 clients are sent there (see self_connect);
         another address, its own family (the container's own clients are sent there) */
      for (int f = 0; f < 2 && !rc; f++) {
        if (g_lent[i].fam && g_lent[i].fam != fams[f]) continue;
        int fd = g_nresv < (int)(sizeof g_resv / sizeof g_resv[0]) ? hold(fams[f], &g_lent[i], port, 0) : (errno = EMFILE, -1);
        /* only a TIME_WAIT connection of a socket without SO_REUSEPORT is left (the port is free) */
        if (fd < 0 && errno == EADDRINUSE) fd = hold(fams[f], &g_lent[i], port, 1);
        if (fd < 0 && fams[f] == AF_INET6 && !g_lent[i].fam && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) continue; /* no IPv6 here */
        if (fd < 0) {
          int e = errno;
          char other[INET6_ADDRSTRLEN + 2] = "";
          if (g_lent[i].fam == AF_INET) inet_ntop(AF_INET, &g_lent[i].a4, other, sizeof other);
          else if (g_lent[i].fam == AF_INET6) other[0] = '[', inet_ntop(AF_INET6, &g_lent[i].a6, other + 1, sizeof other - 2), strcat(other, "]");
          const char *addr = g_lent[i].fam ? other : g_lent[i].loopback ? (f ? "[::1]" : "127.0.0.1") : f ? "[::]" : "0.0.0.0";
          char why[192];
          port_bind_error(why, sizeof why, e, port);
          snprintf(err, errlen, "cannot publish port %s:%d/tcp: %s", addr, port, why);
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
  if (g_nlent && !g_sink_port && reserve_sink() < 0) /* (a joiner's monitor holds no ports, but this yes) */
    dprintf(2, "lend: cannot hold a port for the lent sockets' connections (%s): nothing is lent\n", strerror(errno));
  if (!g_host_cookie) { /* this monitor's own namespace: the host's */
    int t = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t l = sizeof g_host_cookie;
    if (t >= 0 && getsockopt(t, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &g_host_cookie, &l) < 0) g_host_cookie = 0;
    if (t >= 0) close(t);
  }
  if (g_nlisteners >= LEND_MAX_LISTENERS) {
    dprintf(2, "lend: too many processes with their own filter: one more is not served\n");
    close(fd);
    return;
  }
  /* the waiting process and the monitor take turns on one CPU (6.6+): a notification's trip is shorter */
  ioctl(fd, NOTIF_SET_FLAGS, (uint64_t)USER_NOTIF_FD_SYNC_WAKE_UP);
  g_listeners[g_nlisteners++] = fd;
}

int lend_fds(int *fds, int max) {
  int n = 0;
  for (int i = 0; i < g_nlisteners && n < max; i++) fds[n++] = g_listeners[i];
  return n;
}

static void forget_held(int fd);

static void forget(int fd) {
  forget_held(fd);
  for (int i = 0; i < g_nlisteners; i++)
    if (g_listeners[i] == fd) {
      close(fd);
      g_listeners[i] = g_listeners[--g_nlisteners];
      return;
    }
}

/* The segments a socket of the host's in a container takes (see the top of this file):
   anything but SYN+ACK, except, for a client of its own port (see self_connect), the
   SYN+ACK from that port (from_port; 0 for a lent socket: never a source port). */
static int lock_filter(int fd, int from_port) {
  struct bpf_insn_ f[] = {
      INSN(LD_B_ABS, 0, 0, 13),                /* TCP flags */
      INSN(JSET_K, 0, 4, 0x02),                /* SYN? */
      INSN(JSET_K, 0, 3, 0x10),                /* and ACK? */
      INSN(LD_H_ABS, 0, 0, 0),                 /* from: */
      INSN(JEQ_K, 1, 0, (uint32_t)from_port),  /* that port */
      INSN(RET_K, 0, 0, 0),                    /* drop */
      INSN(RET_K, 0, 0, 0xffffffffU),
  };
  struct bpf_prog_ p = {sizeof f / sizeof f[0], f};
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof p) < 0) return -1;
  return setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof one);
}

/* Options a server may set before bind(), carried from its socket to the lent one. */
static void copy_options(int from, int to, int fam) {
  static const struct {
    int level, name;
  } opts[] = {
      {SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_KEEPALIVE}, {SOL_SOCKET, SO_RCVLOWAT}, {SOL_SOCKET, SO_PRIORITY},
      {IPPROTO_TCP, TCP_NODELAY}, {IPPROTO_TCP, TCP_DEFER_ACCEPT}, {IPPROTO_TCP, TCP_FASTOPEN},
      {IPPROTO_TCP, TCP_KEEPIDLE}, {IPPROTO_TCP, TCP_KEEPINTVL}, {IPPROTO_TCP, TCP_KEEPCNT},
      {IPPROTO_TCP, TCP_MAXSEG}, {IPPROTO_TCP, TCP_USER_TIMEOUT}, {IPPROTO_TCP, TCP_QUICKACK},
      {IPPROTO_IP, IP_TOS}, {IPPROTO_IPV6, IPV6_TCLASS},
  };
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    if ((opts[i].level == IPPROTO_IP && fam != AF_INET) || (opts[i].level == IPPROTO_IPV6 && fam != AF_INET6)) continue;
    int v = 0, d = 0;
    socklen_t l = sizeof v, dl = sizeof d;
    if (getsockopt(from, opts[i].level, opts[i].name, &v, &l) < 0) continue;
    if (getsockopt(to, opts[i].level, opts[i].name, &d, &dl) == 0 && d == v) continue;
    setsockopt(to, opts[i].level, opts[i].name, &v, l);
  }
  struct linger lg, dg;
  socklen_t l = sizeof lg, dl = sizeof dg;
  if (getsockopt(from, SOL_SOCKET, SO_LINGER, &lg, &l) == 0 && getsockopt(to, SOL_SOCKET, SO_LINGER, &dg, &dl) == 0 &&
      (lg.l_onoff != dg.l_onoff || lg.l_linger != dg.l_linger))
    setsockopt(to, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* A number after key in a small /proc file: /proc/PID/status ("Tgid:", "CapEff:"),
   /proc/PID/fdinfo/FD ("flags:", octal); 0 when it is not there. */
static unsigned long long proc_field(const char *path, const char *key, int base) {
  char buf[4096];
  if (read_text(path, buf, sizeof buf) < 0) return 0;
  char *v = strstr(buf, key);
  return v ? strtoull(v + strlen(key), NULL, base) : 0;
}

static unsigned long long status_field(pid_t pid, const char *key, int base) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
  return proc_field(p, key, base);
}

static int fd_cloexec(pid_t pid, int fd) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/fdinfo/%d", (int)pid, fd);
  return (proc_field(p, "flags:", 8) & O_CLOEXEC) != 0;
}

/* The answer to a call: 0 when it reached the process, -1 when the call is gone (a signal). */
static int answer(int nfd, uint64_t id, int err, int cont) {
  struct seccomp_notif_resp_ r = {id, 0, err ? -err : 0, cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE_ : 0};
  if (ioctl(nfd, NOTIF_SEND, &r) == 0) return 0;
  if (errno != ENOENT) dprintf(2, "lend: answer: %s\n", strerror(errno));
  return -1;
}

static void respond(int nfd, uint64_t id, int err, int cont) {
  answer(nfd, id, err, cont);
}

/* The host port published for this container port, with *loopback and its range (*which); else 0. */
static int published(int port, int *loopback, const struct lent **which) {
  for (int i = 0; i < g_nlent; i++)
    if (port >= g_lent[i].ctr && port < g_lent[i].ctr + g_lent[i].count) {
      *loopback = g_lent[i].loopback;
      if (which) *which = &g_lent[i];
      return g_lent[i].host + (port - g_lent[i].ctr);
    }
  return 0;
}

/* Not a socket of the host's namespace (the monitor's own), by its namespace's
   cookie (SO_NETNS_COOKIE, 5.14; lending needs 6.7). A socket of a third
   namespace counts as the container's own: it reaches only what the process
   could reach with it anyway. Not a socket: "own", the call says so itself. */
static int own_socket(int sfd) {
  uint64_t c = 0;
  socklen_t l = sizeof c;
  if (getsockopt(sfd, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &c, &l) == 0) return g_host_cookie && c != g_host_cookie;
  return errno == ENOTSOCK;
}

/* A socket lent by this monitor (while the network's owner runs)? */
static int given(int sfd) {
  struct stat st;
  if (g_revoked || fstat(sfd, &st) < 0) return 0;
  for (unsigned i = 0; i < g_ngiven; i++)
    if (g_given[i] == st.st_ino) return 1;
  return 0;
}
/* Remember a lent socket's inode: 0, or -1 when no more can be (then nothing more is lent). */
static int remember(ino_t ino) {
  if (g_ngiven == g_capgiven) {
    unsigned cap = g_capgiven ? 2 * g_capgiven : 64;
    ino_t *t = cap <= GIVEN_MAX ? realloc(g_given, cap * sizeof *t) : NULL;
    if (!t) return -1;
    g_given = t, g_capgiven = cap;
  }
  g_given[g_ngiven++] = ino;
  return 0;
}

/* An IPv4 or IPv6 stream socket, TCP or MPTCP: the monitor binds and connects these
   (Landlock keeps TCP ones from the process; on 6.18 not MPTCP ones, but no socket
   of the host's is ever MPTCP: lent ones are TCP). */
static int tcp_socket(int sfd, int *dom, int *proto) {
  int type = 0;
  socklen_t l = sizeof *dom;
  if (getsockopt(sfd, SOL_SOCKET, SO_DOMAIN, dom, &l) < 0) return 0;
  l = sizeof type;
  getsockopt(sfd, SOL_SOCKET, SO_TYPE, &type, &l);
  l = sizeof *proto;
  getsockopt(sfd, SOL_SOCKET, SO_PROTOCOL, proto, &l);
  return (*dom == AF_INET || *dom == AF_INET6) && type == SOCK_STREAM && (*proto == IPPROTO_TCP || *proto == IPPROTO_MPTCP_);
}

/* ---- connect() on the process's behalf ---- */

/*
 * A connect is made by a worker thread (on the monitor's copy of the socket,
 * as the process would make it: blocking or not, SO_SNDTIMEO, EALREADY for a
 * second try after a signal), which answers when it is done, while the monitor
 * goes on. Never by the main thread: the socket's flags are the process's too
 * (one open file), and a thread of it clearing O_NONBLOCK in a loop made such
 * a connect block the monitor (an exploratory run did, with a full listen
 * queue and TCP_SYNCNT 127: hours). Measured (3000 connect+accept to the
 * container's own 127.0.0.1): ~125 us a connect, 25 with no lent port.
 */
struct connecting {
  struct connecting *next;
  int nfd, sfd;
  uint64_t id;
  socklen_t len;
  struct sockaddr_storage ss;
  /* a connect to a published container port (see self_connect): when ss is one of
     the container's own addresses (process pid's view), a host socket connected to
     the host port on its loopback takes the place of fd tfd in the process */
  int swap, tfd, cloexec, hport;
  const struct lent *lent; /* the published range (its host address) */
  pid_t pid;
  ino_t ino; /* the process's socket (a swap: see g_swapping) */
  int lfd;   /* the listener the call came from (the monitor's number) */
};
static void swap_connect(struct connecting *c);
/* The workers: started as connects wait for one (at most CONNECT_THREADS; more
   wait in the queue), then kept, idle, for the next. */
#define CONNECT_THREADS 512
static pthread_mutex_t g_cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ccv = PTHREAD_COND_INITIALIZER;
static struct connecting *g_cq, **g_cq_tail = &g_cq;
static int g_cqlen, g_cidle, g_cthreads;

static void *connect_worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g_cmu);
  for (;;) {
    while (!g_cq) {
      g_cidle++;
      pthread_cond_wait(&g_ccv, &g_cmu);
      g_cidle--;
    }
    struct connecting *c = g_cq;
    if (!(g_cq = c->next)) g_cq_tail = &g_cq;
    g_cqlen--;
    pthread_mutex_unlock(&g_cmu);
    if (c->swap) swap_connect(c);
    else {
      int r = connect(c->sfd, (struct sockaddr *)&c->ss, c->len);
      respond(c->nfd, c->id, r < 0 ? errno : 0, 0);
    }
    close(c->sfd);
    close(c->nfd);
    free(c);
    pthread_mutex_lock(&g_cmu);
  }
  return NULL;
}

/* Queue a connect for the workers (one more worker when none is idle): 0, or -1. */
static int queue_connect(struct connecting *c) {
  pthread_mutex_lock(&g_cmu);
  *g_cq_tail = c, g_cq_tail = &c->next, c->next = NULL;
  g_cqlen++;
  int r = 0;
  if (g_cqlen > g_cidle && g_cthreads < CONNECT_THREADS) {
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 64 * 1024);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the monitor's signals stay the main thread's */
    pthread_t t;
    if (pthread_create(&t, &at, connect_worker, NULL) == 0) g_cthreads++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&at);
  }
  if (!g_cthreads) { /* no worker at all: take it back */
    g_cq = NULL, g_cq_tail = &g_cq, g_cqlen = 0;
    r = -1;
  }
  pthread_cond_signal(&g_ccv);
  pthread_mutex_unlock(&g_cmu);
  return r;
}

/* Connect sfd (the process's socket, the monitor's copy) and answer, from a
   worker: even a non-blocking socket's connect may block, for the process may
   clear O_NONBLOCK between the monitor's look at its flags and the call. */
/* A connect (as job says, with copies of nfd and sfd) for the workers: 0, or -1 when it
   cannot be queued (no memory, no fds, no thread: the caller answers EAGAIN). */
static int queue_for(int nfd, int sfd, struct connecting job) {
  struct connecting *c = malloc(sizeof *c);
  if (c) *c = job, c->nfd = fcntl(nfd, F_DUPFD_CLOEXEC, 0), c->sfd = fcntl(sfd, F_DUPFD_CLOEXEC, 0);
  if (c && c->nfd >= 0 && c->sfd >= 0 && queue_connect(c) == 0) return 0;
  if (c && c->nfd >= 0) close(c->nfd);
  if (c && c->sfd >= 0) close(c->sfd);
  free(c);
  return -1;
}

static void connect_for(int nfd, uint64_t id, int sfd, const struct sockaddr_storage *ss, socklen_t len) {
  if (queue_for(nfd, sfd, (struct connecting){.id = id, .len = len, .ss = *ss, .tfd = -1, .lfd = -1}) < 0)
    respond(nfd, id, EAGAIN, 0); /* as the kernel says when it has no resources for a connection */
}

/*
 * The container's own clients of its published ports. The server's socket is
 * on the host (lent), so inside the namespace nothing listens on the port:
 * pasta's -T forwards the namespace's loopback there, but not the container's
 * own address (its host name: `wget http://$(hostname)/` was refused), and
 * that forwarding lost replies of servers that close at once (Debian 12's
 * pasta). So a connect to a published container port on one of the
 * container's own addresses (loopback, unspecified, or local in its network
 * namespace) gets a socket of the host's connected to the host port on its
 * loopback, in place of the process's (as a lent socket takes a server's
 * place). It is a socket of the host's like an accepted connection: it may
 * not connect again or listen (see handle), and once connected its port range
 * is the held one (see reserve_sink), so that dropped, it cannot bind a port.
 */
static int own_address(pid_t pid, const struct sockaddr_storage *ss) {
  struct in_addr v4;
  char path[64], line[256], want[INET6_ADDRSTRLEN + 1] = "";
  if (ss->ss_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a)) return 1;
    if (!IN6_IS_ADDR_V4MAPPED(a)) {
      /* /proc/PID/net/if_inet6: "<32 hex digits> ..." per address */
      for (int i = 0; i < 16; i++) snprintf(want + 2 * i, 3, "%02x", a->s6_addr[i]);
      snprintf(path, sizeof path, "/proc/%d/net/if_inet6", (int)pid);
      FILE *f = fopen(path, "re");
      int found = 0;
      while (f && !found && fgets(line, sizeof line, f)) found = !strncmp(line, want, 32);
      if (f) fclose(f);
      return found;
    }
    memcpy(&v4, &a->s6_addr[12], 4);
  } else if (ss->ss_family == AF_INET) {
    v4 = ((const struct sockaddr_in *)ss)->sin_addr;
  } else {
    return 0;
  }
  uint32_t h = ntohl(v4.s_addr);
  if ((h >> 24) == 127 || h == 0) return 1;
  /* /proc/PID/net/fib_trie: "|-- A.B.C.D" then "/32 host LOCAL" for each local address */
  inet_ntop(AF_INET, &v4, want, sizeof want);
  snprintf(path, sizeof path, "/proc/%d/net/fib_trie", (int)pid);
  FILE *f = fopen(path, "re");
  char last[INET_ADDRSTRLEN + 1] = "";
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f)) {
    char *p = strstr(line, "|-- ");
    if (p) sscanf(p + 4, "%15s", last);
    else found = strstr(line, "/32 host LOCAL") && !strcmp(last, want);
  }
  if (f) fclose(f);
  return found;
}

/*
 * The host sockets connected this way (their inodes; the last CLIENTS_MAX): a
 * second connect() on one is answered as the kernel would (EALREADY, EISCONN,
 * the connection's error), and one whose first answer a signal took (the
 * process's call was interrupted after the socket was put in place; it
 * restarts or tries again) gets that answer now: 0, or EINPROGRESS.
 */
#define CLIENTS_MAX 4096
static pthread_mutex_t g_clmu = PTHREAD_MUTEX_INITIALIZER;
static ino_t g_clients[CLIENTS_MAX], g_unanswered[64];
static unsigned g_nclients, g_nunanswered;

static int client_seen(ino_t ino, int take_unanswered, int *unanswered) {
  int found = 0;
  pthread_mutex_lock(&g_clmu);
  for (unsigned i = 0; i < CLIENTS_MAX && i < g_nclients && !found; i++) found = g_clients[i] == ino;
  for (unsigned i = 0; take_unanswered && i < g_nunanswered; i++)
    if (g_unanswered[i] == ino) {
      *unanswered = 1;
      g_unanswered[i] = g_unanswered[--g_nunanswered];
      break;
    }
  pthread_mutex_unlock(&g_clmu);
  return found;
}

static void client_add(ino_t ino, int unanswered) {
  pthread_mutex_lock(&g_clmu);
  if (!unanswered) g_clients[g_nclients++ % CLIENTS_MAX] = ino;
  else if (g_nunanswered < sizeof g_unanswered / sizeof g_unanswered[0]) g_unanswered[g_nunanswered++] = ino;
  else g_unanswered[ino % g_nunanswered] = ino; /* (full of calls given up: one makes room) */
  pthread_mutex_unlock(&g_clmu);
}

static void unanswered_drop_locked(ino_t ino);
static void client_answered(ino_t ino) {
  pthread_mutex_lock(&g_clmu);
  unanswered_drop_locked(ino);
  pthread_mutex_unlock(&g_clmu);
}

/* connect() again on such a socket: the errno to answer (0: done), or -1 when it is not one. */
static int client_again(int sfd, int dst_port) {
  struct stat st;
  int unanswered = 0;
  if (fstat(sfd, &st) < 0 || !client_seen(st.st_ino, 1, &unanswered)) return -1;
  int err = 0;
  socklen_t l = sizeof err;
  if (getsockopt(sfd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err) return err;
  struct sockaddr_storage p;
  socklen_t pl = sizeof p;
  if (getpeername(sfd, (struct sockaddr *)&p, &pl) == 0) {
    if (unanswered) return 0;
    /* a blocking socket asking again for the port it is connected to: a restart of the
       first call (one a signal took at the moment its answer was lost) is the likely
       case, and it was done (the kernel's answer to a deliberate second call would be
       EISCONN; a non-blocking socket's second call gets that, as it asks to learn it) */
    int lb = 0, fl = fcntl(sfd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK) && published(dst_port, &lb, NULL) == ntohs(((struct sockaddr_in *)&p)->sin_port)) return 0;
    return EISCONN;
  }
  return unanswered ? EINPROGRESS : EALREADY;
}

/* Swaps under way: the process's socket, the listener, and the latest call made on it. */
struct swapping {
  ino_t ino;
  int lfd;
  uint64_t id;
};
static struct swapping g_swapping[64];
static unsigned g_nswapping;

/* The latest call on a swap's socket (id when it is not tracked); g_clmu held. */
static uint64_t swap_latest_locked(ino_t ino, int lfd, uint64_t id) {
  for (unsigned k = 0; ino && k < g_nswapping; k++)
    if (g_swapping[k].ino == ino && g_swapping[k].lfd == lfd) return g_swapping[k].id;
  return id;
}

static uint64_t swap_latest(ino_t ino, int lfd, uint64_t id) {
  pthread_mutex_lock(&g_clmu);
  id = swap_latest_locked(ino, lfd, id);
  pthread_mutex_unlock(&g_clmu);
  return id;
}

/* The swap is over if id is still its latest call (1); 0 when a newer call came, to answer too. g_clmu held. */
static int swap_done_locked(ino_t ino, int lfd, uint64_t id) {
  for (unsigned k = 0; ino && k < g_nswapping; k++)
    if (g_swapping[k].ino == ino && g_swapping[k].lfd == lfd) {
      if (g_swapping[k].id != id) return 0;
      g_swapping[k] = g_swapping[--g_nswapping];
      break;
    }
  return 1;
}

static int swap_done(ino_t ino, int lfd, uint64_t id) {
  pthread_mutex_lock(&g_clmu);
  int done = swap_done_locked(ino, lfd, id);
  pthread_mutex_unlock(&g_clmu);
  return done;
}

static void unanswered_drop_locked(ino_t ino) {
  for (unsigned i = 0; i < g_nunanswered; i++)
    if (g_unanswered[i] == ino) {
      g_unanswered[i] = g_unanswered[--g_nunanswered];
      break;
    }
}

/*
 * Answer a swap's call: the latest one (a restart's, when a signal took the first); 0 when
 * an answer reached the process, -1 when none did (it gave the call up). A host socket in
 * place (client, else 0) is marked answered under the same lock as the answer: the process
 * may connect() again the moment it has it, and that call must not find it unanswered (it
 * got "done" for EISCONN when this thread was slower than the process, under load).
 */
static int swap_answer(struct connecting *c, int err, ino_t client) {
  int reached = -1;
  for (;;) {
    pthread_mutex_lock(&g_clmu);
    uint64_t id = swap_latest_locked(c->ino, c->lfd, c->id);
    if (answer(c->nfd, id, err, 0) == 0) {
      reached = 0;
      if (client) unanswered_drop_locked(client);
    }
    int done = swap_done_locked(c->ino, c->lfd, id);
    pthread_mutex_unlock(&g_clmu);
    if (done) return reached;
  }
}

/* A connect to a published container port: queued for a worker, which sees whether the
   address is the container's own (1); 0 when this connect is not one (the usual way). */
static int self_connect(int nfd, const struct seccomp_notif_ *req, int tfd, int sfd, int dom, const struct sockaddr_storage *ss, socklen_t len) {
  if (g_revoked || !g_sink_port || ss->ss_family != dom || len < (dom == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6))) return 0;
  int loopback = 0;
  const struct lent *l = NULL;
  int cport = ntohs(((const struct sockaddr_in *)ss)->sin_port);
  int hport = published(cport, &loopback, &l);
  if (!hport || (l->fam && !port_in(g_served, cport))) return 0;
  /* a socket bound (a client that chose its source) or connected already goes the usual way */
  struct sockaddr_storage me;
  socklen_t ml = sizeof me;
  if (getsockname(sfd, (struct sockaddr *)&me, &ml) < 0 || ((struct sockaddr_in *)&me)->sin_port != 0) return 0;
  ml = sizeof me;
  if (getpeername(sfd, (struct sockaddr *)&me, &ml) == 0 || errno != ENOTCONN) return 0;
  /* the same call again (a signal interrupted it and it restarted) while its swap is
     under way: that swap answers this call (a second one would make a second connection) */
  struct stat sst;
  if (fstat(sfd, &sst) < 0) return 0;
  pthread_mutex_lock(&g_clmu);
  unsigned k = 0;
  while (k < g_nswapping && !(g_swapping[k].ino == sst.st_ino && g_swapping[k].lfd == nfd)) k++;
  if (k < g_nswapping) {
    g_swapping[k].id = req->id;
    pthread_mutex_unlock(&g_clmu);
    return 1;
  }
  int tracked = g_nswapping < sizeof g_swapping / sizeof g_swapping[0];
  if (tracked) g_swapping[g_nswapping++] = (struct swapping){sst.st_ino, nfd, req->id};
  pthread_mutex_unlock(&g_clmu);
  struct connecting job = {.id = req->id, .len = len, .ss = *ss, .swap = 1, .tfd = tfd, .cloexec = fd_cloexec((pid_t)req->pid, tfd),
                           .hport = hport, .lent = l, .pid = (pid_t)req->pid, .ino = tracked ? sst.st_ino : 0, .lfd = nfd};
  if (queue_for(nfd, sfd, job) == 0) return 1;
  if (tracked) swap_done(sst.st_ino, nfd, req->id);
  respond(nfd, req->id, EAGAIN, 0);
  return 1;
}


/* The worker's part: not the container's own address, the usual connect; else the
   host socket made, connected (not waiting when the process's socket does not:
   EINPROGRESS, as the kernel answers), put in place. */
static void swap_connect(struct connecting *c) {
  if (!own_address(c->pid, &c->ss)) {
    int r = connect(c->sfd, (struct sockaddr *)&c->ss, c->len);
    swap_answer(c, r < 0 ? errno : 0, 0);
    return;
  }
  /* Where: published on every address or 127.0.0.1, the host's loopback (an IPv6 socket:
     ::1, held for every publish, see lend_reserve, or 127.0.0.1 v4-mapped as the process
     asked); on one address of the host's (held there), that one, v4-mapped for an IPv6
     socket; an IPv6 address cannot take an IPv4 socket, nor an IPv4 one a v6-only socket
     (refused, as nothing listens on the port in the container). */
  int dom = c->ss.ss_family, v6only = 0;
  socklen_t ol = sizeof v6only;
  if (dom == AF_INET6 && c->lent->fam) getsockopt(c->sfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol);
  else if (dom == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)&c->ss)->sin6_addr;
    int cport = ntohs(((const struct sockaddr_in6 *)&c->ss)->sin6_port);
    v6only = !IN6_IS_ADDR_V4MAPPED(a6);
    /* [::1] on a port published on the host's loopback alone, where a dual-stack server
       was lent: to it (at 127.0.0.1, v4-mapped), unless this socket is v6-only */
    if (v6only && c->lent->loopback && IN6_IS_ADDR_LOOPBACK(a6) && port_in(g_dual, cport)) getsockopt(c->sfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol);
  }
  struct sockaddr_storage to;
  socklen_t tl = host_addr(c->lent, dom, 1, v6only, &to);
  if (!tl) {
    swap_answer(c, ECONNREFUSED, 0);
    return;
  }
  ((struct sockaddr_in *)&to)->sin_port = htons((uint16_t)c->hport); /* (the same place in sockaddr_in6) */
  int hs = socket(dom, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (hs < 0) {
    swap_answer(c, errno == EMFILE || errno == ENFILE ? EAGAIN : errno, 0);
    return;
  }
  copy_options(c->sfd, hs, dom);
  int fl = fcntl(c->sfd, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(hs, F_SETFL, O_NONBLOCK);
  lock_filter(hs, c->hport); /* (where the kernel lets this monitor: root) */
  int r = connect(hs, (struct sockaddr *)&to, tl), e = r < 0 ? errno : 0;
  uint32_t range = ((uint32_t)g_sink_port << 16) | (uint32_t)g_sink_port;
  struct stat st;
  if ((r < 0 && e != EINPROGRESS) || setsockopt(hs, IPPROTO_IP, IP_LOCAL_PORT_RANGE_, &range, sizeof range) < 0 || fstat(hs, &st) < 0) {
    if (!(r < 0 && e != EINPROGRESS)) e = errno;
    close(hs);
    swap_answer(c, e, 0);
    return;
  }
  /* unanswered until the answer is in: a signal may take the call once the socket is in
     place, and its restart (or next try) comes at once; it gets this answer then */
  client_add(st.st_ino, 0);
  client_add(st.st_ino, 1);
  for (;;) {
    uint64_t id = swap_latest(c->ino, c->lfd, c->id);
    struct seccomp_notif_addfd_ af = {id, SECCOMP_ADDFD_FLAG_SETFD_, (uint32_t)hs, (uint32_t)c->tfd, c->cloexec ? O_CLOEXEC : 0};
    if (ioctl(c->nfd, NOTIF_ADDFD, &af) >= 0) break; /* (the fd number it got) */
    int ae = errno;
    /* the call is gone (a signal): its restart, or the process's next try, comes soon and
       is answered with this connection (dropping it would leave a connection the server
       accepts for nothing, and fill its queue) */
    for (int w = 0; ae == ENOENT && w < 200 && swap_latest(c->ino, c->lfd, id) == id; w++) usleep(1000);
    if (ae == ENOENT && !swap_done(c->ino, c->lfd, id)) continue; /* a restart's call, newer */
    /* the process gave up the call (or the fd cannot be put there) */
    client_answered(st.st_ino);
    close(hs);
    if (ae != ENOENT) swap_answer(c, ae, 0);
    return;
  }
  close(hs);
  swap_answer(c, e, st.st_ino);
}

/* What the container's namespace asks of a bind to a low port (the monitor may
   bind one there, the process itself only with CAP_NET_BIND_SERVICE). */
static int low_port_refused(const struct seccomp_notif_ *req, int port) {
  return port && port < g_unpriv_port && !(status_field((pid_t)req->pid, "CapEff:", 16) & (1ULL << 10 /* CAP_NET_BIND_SERVICE */));
}

/* A bind of the container's own TCP socket, made here. */
static void bind_for(int nfd, const struct seccomp_notif_ *req, int sfd, const struct sockaddr_storage *ss, socklen_t len) {
  int port = (ss->ss_family == AF_INET || ss->ss_family == AF_INET6) ? ntohs(((const struct sockaddr_in *)ss)->sin_port) : 0;
  if (low_port_refused(req, port)) return respond(nfd, req->id, EACCES, 0);
  int r = bind(sfd, (const struct sockaddr *)ss, len);
  respond(nfd, req->id, r < 0 ? errno : 0, 0);
}

/*
 * A TCP bind of a published port: the host's socket in its place (answered
 * here); 0 when this bind is not one to lend.
 */
static int lend(int nfd, const struct seccomp_notif_ *req, int tfd, int sfd, const struct sockaddr_storage *ss) {
  int dom = ss->ss_family; /* the socket's own (TCP, checked by the caller) */
  int port = ntohs(((const struct sockaddr_in *)ss)->sin_port); /* same place in sockaddr_in6 */
  int loopback = 0;
  const struct lent *pl = NULL;
  int hport = g_revoked ? 0 : published(port, &loopback, &pl);
  if (!hport) return 0;
  if (!g_sink_port) { /* no port for its connections (see reserve_sink): not lent, the bind fails */
    respond(nfd, req->id, EADDRINUSE, 0);
    return 1;
  }
  if (low_port_refused(req, port)) {
    respond(nfd, req->id, EACCES, 0);
    return 1;
  }
  /* The address asked for: one the container does not have is its own bind (which
     fails, as the kernel's would); a server on the container's loopback only (127/8,
     ::1, v4-mapped too) gets the host's loopback only, or, published on another
     address of the host's, is not lent (it serves the container alone). */
  const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
  int mapped = dom == AF_INET6 && IN6_IS_ADDR_V4MAPPED(a6);
  uint32_t v4 = 0;
  if (dom == AF_INET) v4 = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);
  else if (mapped) memcpy(&v4, &a6->s6_addr[12], 4), v4 = ntohl(v4);
  int any = dom == AF_INET || mapped ? v4 == INADDR_ANY : IN6_IS_ADDR_UNSPECIFIED(a6);
  int lo = dom == AF_INET || mapped ? (v4 >> 24) == 127 : IN6_IS_ADDR_LOOPBACK(a6);
  if (!any && !lo && !own_address((pid_t)req->pid, ss)) return 0;
  if (lo) {
    if (pl->fam) return 0;
    loopback = 1;
  }
  int v6only = 0;
  socklen_t l;
  if (dom == AF_INET6) {
    l = sizeof v6only;
    getsockopt(sfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l);
  }
  struct sockaddr_storage probe;
  if (!host_addr(pl, dom, loopback, v6only, &probe)) return 0; /* (a v6-only server, an IPv4 address: not lent) */
  int hs = socket(dom, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP), e;
  if (hs < 0) {
    respond(nfd, req->id, errno, 0);
    return 1;
  }
  copy_options(sfd, hs, dom);
  /* always: its connections' TIME_WAIT then keeps no one from binding the port
     again once the container is gone (as with pasta's sockets, which have it) */
  int on = 1;
  setsockopt(hs, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  int fl = fcntl(sfd, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(hs, F_SETFL, O_NONBLOCK);
  /* its connections' own port range: the port held for that (see reserve_sink) */
  uint32_t range = ((uint32_t)g_sink_port << 16) | (uint32_t)g_sink_port;
  if (setsockopt(hs, IPPROTO_IP, IP_LOCAL_PORT_RANGE_, &range, sizeof range) < 0) {
    e = errno;
    close(hs);
    respond(nfd, req->id, e, 0);
    return 1;
  }
  lock_filter(hs, 0); /* where the kernel lets this monitor (see the top of this file) */
  if (host_bind(hs, dom, pl, loopback, v6only, hport) < 0) {
    e = errno;
    close(hs);
    respond(nfd, req->id, e, 0);
    return 1;
  }
  struct stat st;
  if (fstat(hs, &st) < 0 || remember(st.st_ino) < 0) { /* (65536 lent already) */
    close(hs);
    respond(nfd, req->id, EADDRINUSE, 0);
    return 1;
  }
  struct seccomp_notif_addfd_ af = {req->id, SECCOMP_ADDFD_FLAG_SETFD_, (uint32_t)hs, (uint32_t)tfd, fd_cloexec((pid_t)req->pid, tfd) ? O_CLOEXEC : 0};
  int r = ioctl(nfd, NOTIF_ADDFD, &af);
  e = r < 0 ? errno : 0;
  close(hs);
  if (r < 0) {
    if (e != ENOENT) dprintf(2, "lend: put the socket in place: %s\n", strerror(e));
    respond(nfd, req->id, e == ENOENT ? 0 : e, 0);
    return 1;
  }
  port_add(g_served, port);
  if (loopback && any && dom == AF_INET6 && !v6only) port_add(g_dual, port);
  respond(nfd, req->id, 0, 0);
  return 1;
}

enum op { OP_OTHER, OP_BIND, OP_LISTEN, OP_CONNECT, OP_SETSOCKOPT, OP_SOCKET };

/*
 * net.lazy: the network is started at the container's first socket (one not of
 * AF_UNIX), or io_uring, which makes sockets past seccomp. Until it is up, such
 * calls wait here (their notifications held); then they go on (CONTINUE: the
 * call is the process's own, nothing to check). A socket made before the
 * network's interface exists would work once it does, but its first connect or
 * send would not: the earliest call that every use of the network makes is
 * where it waits. After that, every such call still passes the monitor (a
 * seccomp filter cannot be taken off): a round trip of some microseconds.
 * When the network cannot be set up, the held calls go on all the same (the
 * namespace has its loopback only, as after a network is lost) and a later
 * socket tries again, after 1 s, then 2, 4... up to a minute.
 */
static int g_net_up = 1;      /* up (or not lazy) */
static int g_net_starting;    /* g_net_want() called, lend_net_up() not yet */
static long long g_net_retry; /* failed: a socket before this (CLOCK_MONOTONIC ms) goes on without */
static int g_net_failures;
static void (*g_net_want)(void);
static struct held {
  int nfd;
  uint64_t id;
} *g_held;
static size_t g_nheld, g_capheld;

void lend_net_lazy(void (*want)(void)) {
  g_net_up = 0;
  g_net_want = want;
}

/* Room for one more held call: those a signal took away first (their ids are
   no longer valid: a restarted call comes again with a new one), then more memory. */
static int held_room(void) {
  if (g_nheld < g_capheld) return 1;
  size_t k = 0;
  for (size_t i = 0; i < g_nheld; i++)
    if (ioctl(g_held[i].nfd, NOTIF_ID_VALID, &g_held[i].id) == 0) g_held[k++] = g_held[i];
  g_nheld = k;
  if (g_nheld < g_capheld / 2 && g_capheld) return 1;
  size_t cap = g_capheld ? 2 * g_capheld : 256;
  struct held *n = realloc(g_held, cap * sizeof *n);
  if (!n) return 0;
  g_held = n, g_capheld = cap;
  return 1;
}

static void net_gate(int nfd, uint64_t id) {
  if (g_net_up || (!g_net_starting && g_net_failures && mono_ms() < g_net_retry)) return respond(nfd, id, 0, 1);
  if (!held_room()) return respond(nfd, id, ENOBUFS, 0); /* (out of memory) */
  g_held[g_nheld].nfd = nfd;
  g_held[g_nheld++].id = id;
  if (!g_net_starting) {
    g_net_starting = 1;
    g_net_want(); /* may answer them all at once (lend_net_up) */
  }
}

/* its notifications are gone with its processes (a held one's fd number may be another's soon) */
static void forget_held(int fd) {
  size_t k = 0;
  for (size_t i = 0; i < g_nheld; i++)
    if (g_held[i].nfd != fd) g_held[k++] = g_held[i];
  g_nheld = k;
}

int lend_net_up(int ok) {
  g_net_starting = 0;
  if (ok) g_net_up = 1;
  else {
    int shift = g_net_failures < 6 ? g_net_failures : 6;
    g_net_failures++;
    g_net_retry = mono_ms() + (shift < 6 ? 1000LL << shift : 60000);
  }
  for (size_t i = 0; i < g_nheld; i++) answer(g_held[i].nfd, g_held[i].id, 0, 1);
  g_nheld = 0;
  return ok ? 0 : (int)((g_net_retry - mono_ms() + 999) / 1000);
}

/* The address argument, copied from the process: its length, 0 for none, -errno. */
static int read_addr(pid_t pid, uint64_t addr, uint64_t alen, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (alen > sizeof *ss) return -EINVAL;
  if (!alen) return 0;
  struct iovec li = {ss, (size_t)alen}, ri = {(void *)(uintptr_t)addr, (size_t)alen};
  return process_vm_readv(pid, &li, 1, &ri, 1, 0) == (ssize_t)alen ? (int)alen : -EFAULT;
}

static void handle(int nfd) {
  struct seccomp_notif_ req;
  memset(&req, 0, sizeof req);
  if (ioctl(nfd, NOTIF_RECV, &req) < 0) {
    if (errno != EINTR && errno != ENOENT) forget(nfd);
    return;
  }
  /* the call: a native one, or a 32-bit one (socketcall's arguments are in memory, copied here) */
  int native = req.data.arch == AUDIT_ARCH_NATIVE, nr = req.data.nr;
  enum op op = OP_OTHER;
  uint64_t a[5] = {req.data.args[0], req.data.args[1], req.data.args[2], 0, 0};
  if (native) {
    op = nr == SYS_bind ? OP_BIND : nr == SYS_listen ? OP_LISTEN : nr == SYS_connect ? OP_CONNECT : OP_OTHER;
    if (nr == SYS_socket || nr == 425 /* io_uring_setup */ || (uint32_t)nr == (0x40000000U | SYS_socket) || (uint32_t)nr == (0x40000000U | 425) /* x32 */) op = OP_SOCKET;
  } else if (nr == 102) { /* socketcall(call, args) */
    uint32_t v[5] = {0, 0, 0, 0, 0};
    int call = (int)req.data.args[0];
    op = call == 1 ? OP_SOCKET : call == 2 ? OP_BIND : call == 3 ? OP_CONNECT : call == 4 ? OP_LISTEN : call == 14 ? OP_SETSOCKOPT : OP_OTHER;
    size_t n = (op == OP_SETSOCKOPT ? 5 : op == OP_LISTEN ? 2 : 3) * sizeof v[0];
    struct iovec li = {v, n}, ri = {(void *)(uintptr_t)req.data.args[1], n};
    if (op != OP_OTHER && op != OP_SOCKET && process_vm_readv((pid_t)req.pid, &li, 1, &ri, 1, 0) != (ssize_t)n) return respond(nfd, req.id, EFAULT, 0);
    for (int i = 0; i < 5; i++) a[i] = v[i];
  } else {
    op = nr == 361 ? OP_BIND : nr == 363 ? OP_LISTEN : nr == 362 ? OP_CONNECT : nr == 359 || nr == 425 ? OP_SOCKET : OP_OTHER;
  }
  if (op == OP_SOCKET) return net_gate(nfd, req.id);
  if (op == OP_OTHER) return respond(nfd, req.id, 0, 1);
  if (op == OP_SETSOCKOPT) { /* 32-bit socketcall only (the native call is the filter's) */
    int range = (uint32_t)a[1] == 0 /* SOL_IP */ && (uint32_t)a[2] == IP_LOCAL_PORT_RANGE_;
    return respond(nfd, req.id, range ? ENOPROTOOPT : 0, !range);
  }
  /* The socket itself (pidfd_getfd: a copy of the fd), from the calling thread's
     own fd table: a thread may have one (unshare(CLONE_FILES)), and the kernel
     reads that one. pidfd_open(PIDFD_THREAD) takes a thread (6.9); before it,
     the thread group's leader's table (what is made or refused there is what the
     monitor looked at; what goes on is Landlock's, see the top of this file). */
  int pidfd = (int)syscall(SYS_pidfd_open_, (pid_t)req.pid, PIDFD_THREAD_);
  if (pidfd < 0 && errno == EINVAL) {
    pid_t tgid = (pid_t)status_field((pid_t)req.pid, "Tgid:", 10);
    pidfd = tgid > 0 ? (int)syscall(SYS_pidfd_open_, tgid, 0) : -1;
  }
  if (pidfd < 0) return respond(nfd, req.id, errno == EMFILE || errno == ENFILE ? EAGAIN : ESRCH, 0);
  if (ioctl(nfd, NOTIF_ID_VALID, &req.id) < 0) { /* that process is gone */
    close(pidfd);
    return;
  }
  int tfd = (int)(uint32_t)a[0], sfd = (int)syscall(SYS_pidfd_getfd_, pidfd, tfd, 0);
  int e = errno;
  close(pidfd);
  if (sfd < 0) return respond(nfd, req.id, e == EBADF ? EBADF : e == EMFILE || e == ENFILE ? EAGAIN : EACCES, 0);
  int dom = 0, proto = 0;
  if (!own_socket(sfd)) {
    /* A socket of the host's namespace (one lent, or a connection it accepted) does
       nothing but what it was made for: no other port, no connecting out. */
    /* connect() again on a client socket the monitor made (not to drop it: AF_UNSPEC is refused) */
    struct sockaddr_storage dst;
    int dl = op == OP_CONNECT ? read_addr((pid_t)req.pid, a[1], a[2], &dst) : 0;
    int fam = dl >= (int)sizeof(struct sockaddr_in) ? dst.ss_family : AF_UNSPEC;
    int again = fam == AF_INET || fam == AF_INET6 ? client_again(sfd, ntohs(((struct sockaddr_in *)&dst)->sin_port)) : -1;
    int r = again >= 0 ? (errno = again, again ? -1 : 0) : op == OP_LISTEN && given(sfd) ? listen(sfd, (int)(uint32_t)a[1]) : (errno = EACCES, -1);
    int err = r < 0 ? errno : 0;
    struct stat cst;
    int known = fstat(sfd, &cst) == 0;
    /* this copy goes before the answer: once answered, the socket is the process's
       alone (a listener seen with the monitor beside it, by ss say, is not what was lent) */
    close(sfd);
    /* the first call's answer (0 or EINPROGRESS), taken by a signal again: kept for the next */
    if (answer(nfd, req.id, err, 0) < 0 && (again == 0 || again == EINPROGRESS) && known) client_add(cst.st_ino, 1);
    return;
  } else if (!tcp_socket(sfd, &dom, &proto) || op == OP_LISTEN) {
    respond(nfd, req.id, 0, 1); /* the process's own call (a unix socket's carries its credentials) */
  } else {
    struct sockaddr_storage ss;
    int len = read_addr((pid_t)req.pid, a[1], a[2], &ss);
    if (len < 0) respond(nfd, req.id, -len, 0);
    else if (op == OP_CONNECT) {
      if (!self_connect(nfd, &req, tfd, sfd, dom, &ss, (socklen_t)len)) connect_for(nfd, req.id, sfd, &ss, (socklen_t)len);
    }
    else if (!(proto == IPPROTO_TCP && ss.ss_family == dom && len >= (int)sizeof(struct sockaddr_in) && lend(nfd, &req, tfd, sfd, &ss)))
      bind_for(nfd, &req, sfd, &ss, (socklen_t)len);
  }
  close(sfd);
}

void lend_event(int fd, short revents) {
  if (revents & POLLIN) handle(fd);
  else if (revents & (POLLHUP | POLLERR | POLLNVAL)) forget(fd); /* every process under it is gone */
}

/*
 * The container whose network this one joined is gone (its pasta too). What
 * was lent in that network must not outlive it, wherever it is held: taking it
 * back socket by socket (found in fd tables, shut down) was got round three ways
 * by exploratory runs (a listener in flight in a unix socket's queue; a
 * thread's own fd table, which the kernel's listen() reads and /proc/PID/fd
 * does not show; a socket another joiner was lent, handed over an abstract unix
 * socket). So this container ends with it (SIGKILL: the kernel closes all that
 * its processes held, in flight too), as each of its fellow joiners does.
 */
void lend_revoke(pid_t ctr) {
  g_revoked = 1; /* nothing is lent any more, nothing lent listens again */
  while (g_nresv) close(g_resv[--g_nresv]);
  dprintf(2, "lend: the container whose network this one shares is gone, and its ports were lent: this one ends too\n");
  kill(ctr, SIGKILL);
}

void lend_release(void) {
  while (g_nresv) close(g_resv[--g_nresv]);
  for (int i = 0; i < 2; i++)
    if (g_sink[i] >= 0) close(g_sink[i]), g_sink[i] = -1;
  while (g_nlisteners) close(g_listeners[--g_nlisteners]);
}
