/*
 * Published UDP ports: a forwarder of tspod's own, the monitor's child.
 *
 * pasta (Debian 12's, 2023-03) loses the replies to a client on the host's
 * loopback (a datagram to 127.0.0.1:PORT reaches the container, its answer
 * never comes back), and slirp4netns's hostfwd cannot deliver them either
 * while the container may not reach the host's loopback (--disable-host-loopback).
 * So request/response over UDP from the host did not work in either mode.
 *
 * The host sockets are bound by the monitor (so a port in use is an error at
 * start); the forked child joins the container's user and network namespaces
 * and relays: each client address gets a socket in the container connected to
 * 127.0.0.1:PORT, whose answers go back to that client from the published
 * port. The container sees the datagrams coming from its loopback, as with
 * Podman's rootlessport. A client quiet for 3 minutes is forgotten.
 */
#include "common.h"
#include "spec.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#define UDP_MAX_SESS 256
#define UDP_IDLE_S 180

struct usess {
  int fd; /* in the container, connected to 127.0.0.1:ctr */
  int port; /* index into the host sockets */
  struct sockaddr_storage client;
  socklen_t clen;
  time_t last;
};

/* Bind one host socket per published UDP port (and address family): -1 with err on failure. */
int udpfwd_bind(const char *ip, int host, int ctr, int *fds, int *ctrs, int *n, char *err, size_t errlen) {
  int one = 1;
  struct {
    int fam;
    const char *addr;
  } want[2];
  int nw = 0;
  struct in_addr a4;
  struct in6_addr a6;
  if (!ip[0]) {
    want[nw++] = (typeof(want[0])){AF_INET, "0.0.0.0"};
    want[nw++] = (typeof(want[0])){AF_INET6, "::"}; /* as pasta binds a port given no address */
  } else if (inet_pton(AF_INET, ip, &a4) == 1) want[nw++] = (typeof(want[0])){AF_INET, ip};
  else if (inet_pton(AF_INET6, ip, &a6) == 1) want[nw++] = (typeof(want[0])){AF_INET6, ip};
  else {
    snprintf(err, errlen, "invalid host address %s for port %d/udp", ip, host);
    errno = EINVAL;
    return -1;
  }
  for (int i = 0; i < nw; i++) {
    if (*n >= UDP_MAX_PORTS) {
      snprintf(err, errlen, "too many published UDP ports: at most %d host sockets (a port given no address takes two, IPv4 and IPv6)", UDP_MAX_PORTS);
      errno = E2BIG;
      return -1;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (want[i].fam == AF_INET) {
      struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
      s4->sin_family = AF_INET;
      s4->sin_port = htons((uint16_t)host);
      inet_pton(AF_INET, want[i].addr, &s4->sin_addr);
      len = sizeof *s4;
    } else {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons((uint16_t)host);
      inet_pton(AF_INET6, want[i].addr, &s6->sin6_addr);
      len = sizeof *s6;
    }
    int fd = socket(want[i].fam, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      if (!ip[0] && want[i].fam == AF_INET6) continue; /* a host without IPv6 */
      snprintf(err, errlen, "socket for port %d/udp: %s", host, strerror(errno));
      return -1;
    }
    if (want[i].fam == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
      int e = errno;
      close(fd);
      if (!ip[0] && want[i].fam == AF_INET6 && e == EADDRNOTAVAIL) continue;
      char why[192];
      port_bind_error(why, sizeof why, e, host);
      snprintf(err, errlen, "cannot publish port %s:%d/udp: %s", want[i].addr, host, why);
      errno = e;
      return -1;
    }
    fds[*n] = fd;
    ctrs[*n] = ctr;
    (*n)++;
  }
  return 0;
}

static int same_addr(const struct sockaddr_storage *a, socklen_t al, const struct sockaddr_storage *b, socklen_t bl) {
  return al == bl && !memcmp(a, b, al);
}

/* The forwarder itself, in the forked child: never returns. */
__attribute__((noreturn)) void udpfwd_run(int *fds, int *ctrs, int n, int netns_fd, int userns_fd) {
  signal(SIGPIPE, SIG_IGN);
  /* (as root the container may share our user namespace: joining it again is EINVAL) */
  if (userns_fd >= 0 && setns(userns_fd, CLONE_NEWUSER) < 0 && errno != EINVAL) _exit(120);
  if (setns(netns_fd, CLONE_NEWNET) < 0) _exit(121);
  close(netns_fd);
  if (userns_fd >= 0) close(userns_fd);
  static struct usess sess[UDP_MAX_SESS];
  int nsess = 0;
  static unsigned char buf[65536];
  static struct pollfd pf[UDP_MAX_PORTS + UDP_MAX_SESS];
  time_t last_sweep = time(NULL);
  for (;;) {
    int np = 0;
    for (int i = 0; i < n; i++) pf[np++] = (struct pollfd){fds[i], POLLIN, 0};
    for (int i = 0; i < nsess; i++) pf[np++] = (struct pollfd){sess[i].fd, POLLIN, 0};
    int r = poll(pf, (nfds_t)np, 30000);
    if (r < 0 && errno != EINTR) _exit(122);
    time_t now = time(NULL);
    /* from clients on the host to the container */
    for (int i = 0; r > 0 && i < n; i++) {
      if (!(pf[i].revents & POLLIN)) continue;
      for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t got = recvfrom(fds[i], buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (got < 0) break;
        int k = 0;
        while (k < nsess && !(sess[k].port == i && same_addr(&sess[k].client, sess[k].clen, &from, fl))) k++;
        if (k == nsess) {
          if (nsess == UDP_MAX_SESS) { /* the quietest client makes room */
            int old = 0;
            for (int j = 1; j < nsess; j++)
              if (sess[j].last < sess[old].last) old = j;
            close(sess[old].fd);
            sess[old] = sess[--nsess];
            k = nsess;
          }
          int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
          if (s < 0) continue;
          struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ctrs[i]), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
          if (connect(s, (struct sockaddr *)&to, sizeof to) < 0) {
            close(s);
            continue;
          }
          sess[k] = (struct usess){s, i, from, fl, now};
          nsess++;
        }
        sess[k].last = now;
        if (send(sess[k].fd, buf, (size_t)got, 0) < 0) { /* nobody listens yet (ECONNREFUSED): dropped, as a datagram may be */ }
      }
    }
    /* answers, back to their client from the published port */
    for (int i = 0; r > 0 && i < nsess; i++) {
      if (!(pf[n + i].revents & (POLLIN | POLLERR))) continue;
      for (;;) {
        ssize_t got = recv(sess[i].fd, buf, sizeof buf, 0);
        if (got < 0) break;
        sess[i].last = now;
        sendto(fds[sess[i].port], buf, (size_t)got, 0, (struct sockaddr *)&sess[i].client, sess[i].clen);
      }
    }
    if (now - last_sweep >= 30) {
      last_sweep = now;
      for (int i = 0; i < nsess;) {
        if (now - sess[i].last > UDP_IDLE_S) {
          close(sess[i].fd);
          sess[i] = sess[--nsess];
        } else i++;
      }
    }
  }
}
