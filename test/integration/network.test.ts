// Networking: the default mode (pasta), published TCP and UDP ports, the
// client's source address, port conflicts, slirp4netns, container:NAME, pods
// whose members talk by name, and no helper process or held port left behind.
// Root and rootless, real pasta / slirp4netns, busybox from the local registry.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { connect as netConnect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { cleanEach, MODES, REGISTRY, sandboxes, type Sandbox } from "../helpers/tspod.ts";
import { pushImage, uniqueRepo } from "../helpers/oci.ts";
import { TarWriter } from "../helpers/tarwriter.ts";

const BB = `${REGISTRY}/busybox:latest`;
const box = sandboxes();
const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** A TCP port nobody listens on right now (the kernel's pick). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "0.0.0.0", () => {
      const p = (s.address() as any).port;
      s.close(() => resolve(p));
    });
  });
}

/** n consecutive free TCP ports. */
async function freeRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ok = await Promise.all(Array.from({ length: n }, (_, i) => canBind(base + i)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error("no free port range");
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "0.0.0.0", () => s.close(() => resolve(true)));
  });
}

/** Nothing holds the UDP port (the forwarder went with the container). */
function canBindUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.once("error", () => resolve(false));
    s.bind(port, "0.0.0.0", () => s.close(() => resolve(true)));
  });
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.end("host process\n"));
    s.once("error", reject);
    s.listen(port, "0.0.0.0", () => resolve(s));
  });
}

/**
 * pasta / slirp4netns processes started for a container (their argv names its ID).
 * A helper's own short-lived children (pasta clones itself for its work in the
 * namespace, with the same argv) are not counted: a run under load caught one.
 */
function helperProcs(id: string): string[] {
  const found = new Map<string, { ppid: string; line: string }>();
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (!/(^|\/)(pasta|pasta\.avx2|passt|passt\.avx2|slirp4netns)$/.test(argv[0]) || !argv.some((a) => a.includes(id.slice(0, 12)))) continue;
      const ppid = readFileSync(`/proc/${p}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")[1]!;
      found.set(p, { ppid, line: `${p} ${argv.join(" ")}` });
    } catch {}
  }
  return [...found.values()].filter((h) => !found.has(h.ppid)).map((h) => h.line);
}

/**
 * The helpers left after a container ended without published ports: its monitor
 * kills pasta then and reaps it in the background (a port it held would have been
 * waited for), so a loaded machine can still show it for a moment.
 */
async function helpersLeft(id: string, ms = 3000): Promise<string[]> {
  const end = Date.now() + ms;
  let left = helperProcs(id);
  while (left.length && Date.now() < end) {
    await Bun.sleep(20);
    left = helperProcs(id);
  }
  return left;
}

async function fetchText(url: string, tries = 50): Promise<string> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const r = await fetch(url);
      return await r.text();
    } catch (e) {
      last = e;
      await Bun.sleep(100);
    }
  }
  throw new Error(`${url}: ${last}`);
}

async function waitLog(b: Sandbox, name: string, re: RegExp, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  let text = "";
  while (Date.now() < end) {
    const r = await b.run(["logs", name]);
    text = r.stdout + r.stderr;
    if (re.test(text)) return text;
    await Bun.sleep(100);
  }
  throw new Error(`logs of ${name} never matched ${re}: ${text}`);
}

/** A directory the sandbox user owns, for -v. */
function userDir(b: Sandbox): string {
  const d = mkdtempSync("/tmp/tspod-net-");
  tmpDirs.push(d);
  chmodSync(d, 0o755);
  chownSync(d, b.uid, b.gid);
  return d;
}

/** httpd's document root: index.html and a CGI that prints the client's address. */
function wwwDir(b: Sandbox): string {
  const d = userDir(b);
  writeFileSync(join(d, "index.html"), "hello from httpd\n");
  mkdirSync(join(d, "cgi-bin"));
  writeFileSync(join(d, "cgi-bin/ip"), '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "remote=$REMOTE_ADDR"\n', { mode: 0o755 });
  for (const p of [d, join(d, "index.html"), join(d, "cgi-bin"), join(d, "cgi-bin/ip")]) chownSync(p, b.uid, b.gid);
  return d;
}

// busybox nc has no UDP here: a tiny static UDP echo server that logs what it gets and from whom.
let udpDir = "";
beforeAll(() => {
  udpDir = mkdtempSync("/tmp/tspod-udp-");
  tmpDirs.push(udpDir);
  chmodSync(udpDir, 0o755);
  writeFileSync(
    join(udpDir, "udpecho.c"),
    `#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
  printf("listening\\n"); fflush(stdout);
  for (;;) {
    char buf[2048]; struct sockaddr_in from; socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) return 1;
    buf[n] = 0;
    printf("got %s from %s\\n", buf, inet_ntoa(from.sin_addr)); fflush(stdout);
    sendto(fd, buf, n, 0, (struct sockaddr *)&from, fl);
  }
}
`,
  );
  // lendprobe escape PORT TARGET: binds PORT (a published one: the monitor lends it a host
  // socket) and listens; connects to it from inside (the monitor gives the client a host
  // socket connected to the host port) to get an accepted socket; then tries what a lent socket must not do: bind another port, listen,
  // connect to the host's 127.0.0.1:TARGET, and io_uring; and the options kept from every
  // socket (its port range, TCP Fast Open). lendprobe race PORT TARGET: the same through
  // a thread that swaps fd 100 between a host socket and one of its own while the main
  // thread calls on fd 100 (the monitor's check and the kernel's call see different
  // sockets). lendprobe thread PORT: binds and listens from a second thread, then answers
  // every connection. lendprobe hide PORT SECONDS: holds its listener only in flight in a unix
  // socket's queue for a while. lendprobe give PORT / take: one hands its listener to the
  // other over an abstract unix socket. lendprobe stall PORT: connects that wait for hours.
  writeFileSync(
    join(udpDir, "lendprobe.c"),
    `#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
static int port, lfd = -1;
static volatile int g_alarms;
static void on_alarm(int sig) { (void)sig; g_alarms++; }
static const char *res(int r) { return r == 0 ? "done" : strerror(errno); }
/* a connect that may never be answered: non-blocking, 1.5 s */
static const char *conn(int s, struct sockaddr_in *t) {
  fcntl(s, F_SETFL, O_NONBLOCK);
  if (connect(s, (struct sockaddr *)t, sizeof *t) == 0) return "done";
  if (errno != EINPROGRESS) return strerror(errno);
  struct pollfd p = {s, POLLOUT, 0};
  if (poll(&p, 1, 1500) == 0) return "no answer";
  int e = 0;
  socklen_t l = sizeof e;
  getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l);
  return e ? strerror(e) : "done";
}
static void *listener(void *arg) {
  (void)arg;
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) { perror("bind"); exit(1); }
  socklen_t l = sizeof a;
  getsockname(s, (struct sockaddr *)&a, &l);
  printf("bound %d\\n", ntohs(a.sin_port));
  fflush(stdout);
  lfd = s;
  return NULL;
}
/* An fd over a unix socket (SCM_RIGHTS), and back; a failure ends the program. */
static void send_fd(int sock, int fd) {
  char c = 'x', cb[CMSG_SPACE(sizeof(int))];
  memset(cb, 0, sizeof cb);
  struct iovec v = {&c, 1};
  struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = cb, .msg_controllen = sizeof cb};
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET, h->cmsg_type = SCM_RIGHTS, h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &fd, sizeof fd);
  if (sendmsg(sock, &m, 0) < 0) { perror("sendmsg"); exit(1); }
}
static int recv_fd(int sock) {
  char c, cb[CMSG_SPACE(sizeof(int))];
  struct iovec v = {&c, 1};
  struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = cb, .msg_controllen = sizeof cb};
  if (recvmsg(sock, &m, 0) < 1 || !CMSG_FIRSTHDR(&m)) { perror("recvmsg"); exit(1); }
  int fd;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
  return fd;
}
/* give and take meet at the abstract unix socket @lendprobe (the shared network's): its length */
static socklen_t handoff_addr(struct sockaddr_un *a) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  memcpy(a->sun_path + 1, "lendprobe", 9);
  return offsetof(struct sockaddr_un, sun_path) + 10;
}
/* in a thread with an fd table of its own (which the monitor must read, as the kernel does) */
static int g_private = -1;
static void *private_table(void *arg) {
  (void)arg;
  if (unshare(CLONE_FILES) < 0) { perror("unshare"); exit(1); }
  dup2(g_private, 100);
  struct sockaddr_in other = {.sin_family = AF_INET, .sin_port = htons(port + 1)};
  printf("private bind: %s\\n", res(bind(100, (struct sockaddr *)&other, sizeof other)));
  /* dropped (Landlock lets any process drop a connection), then listen(): no port of the host for it */
  struct sockaddr un = {.sa_family = AF_UNSPEC};
  printf("private disconnect: %s\\n", res(connect(100, &un, sizeof un)));
  printf("private listen: %s\\n", res(listen(100, 1)));
  fflush(stdout);
  return NULL;
}
/* A listener of the process's own on 127.0.0.1 whose queue is full: further SYNs are dropped, a connect to it waits. */
static struct sockaddr_in full_queue(void) {
  int q = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in qa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t ql = sizeof qa;
  bind(q, (struct sockaddr *)&qa, sizeof qa);
  listen(q, 0);
  getsockname(q, (struct sockaddr *)&qa, &ql);
  for (int i = 0; i < 4; i++) connect(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), (struct sockaddr *)&qa, sizeof qa);
  return qa;
}
/* stall helpers: connects to a full listen queue that retry for hours (TCP_SYNCNT 127) */
static struct sockaddr_in g_target;
static int g_flip = -1;
static int slow_socket(int flags) {
  int s = socket(AF_INET, SOCK_STREAM | flags, 0), n = 127;
  setsockopt(s, IPPROTO_TCP, TCP_SYNCNT, &n, sizeof n);
  return s;
}
static void *stall_blocking(void *arg) {
  (void)arg;
  connect(slow_socket(0), (struct sockaddr *)&g_target, sizeof g_target);
  return NULL;
}
static void *flipper(void *arg) {
  (void)arg;
  for (;;) fcntl(g_flip, F_SETFL, 0);
  return NULL;
}
/* non-blocking, but a thread keeps clearing O_NONBLOCK: the connect may block where it is made */
static void *stall_flipped(void *arg) {
  (void)arg;
  g_flip = slow_socket(SOCK_NONBLOCK);
  pthread_t t;
  pthread_create(&t, NULL, flipper, NULL);
  for (int i = 0; i < 500; i++) {
    fcntl(g_flip, F_SETFL, O_NONBLOCK);
    connect(g_flip, (struct sockaddr *)&g_target, sizeof g_target);
  }
  return NULL;
}
/* race helpers: fd 100 is, by turns, a socket of the container's own and a socket of the host's */
static volatile int g_stop;
static int g_own = -1, g_host = -1, g_slot = 100;
static void *swapper(void *arg) {
  (void)arg;
  while (!g_stop) {
    dup2(g_host, g_slot);
    dup2(g_own, g_slot);
  }
  return NULL;
}
static int listening(int s) {
  int v = 0;
  socklen_t l = sizeof v;
  return getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v;
}
static int port_of(int s) {
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  return getsockname(s, (struct sockaddr *)&a, &l) == 0 ? ntohs(a.sin_port) : -1;
}
/* calls on fd 100 for ms milliseconds while it is swapped; op: 0 disconnect, 1 connect to t,
   2 bind to t's port + 1, 3 listen. Won: the host socket did it. */
static int race(int own, int host, int op, struct sockaddr_in *t, int ms) {
  g_own = own, g_host = host, g_stop = 0;
  pthread_t th;
  pthread_create(&th, NULL, swapper, NULL);
  struct sockaddr un = {.sa_family = AF_UNSPEC};
  struct sockaddr_in other = {.sin_family = AF_INET, .sin_port = htons(ntohs(t->sin_port) + 1)}, peer;
  socklen_t pl = sizeof peer;
  int won = 0, before = port_of(host);
  for (int i = 0; i < ms * 10 && !won; i++) {
    if (op == 0) connect(g_slot, &un, sizeof un), won = getpeername(host, (struct sockaddr *)&peer, &pl) < 0 && !listening(host);
    if (op == 1) connect(g_slot, (struct sockaddr *)t, sizeof *t), won = getpeername(host, (struct sockaddr *)&peer, &pl) == 0;
    if (op == 2) bind(g_slot, (struct sockaddr *)&other, sizeof other), won = port_of(host) == ntohs(other.sin_port);
    if (op == 3) listen(g_slot, 1), won = port_of(host) != before; /* bound to a port of the host it did not have */
    if (i % 10 == 9) usleep(100);
  }
  g_stop = 1;
  pthread_join(th, NULL);
  return won;
}
int main(int argc, char **argv) {
  port = argc > 2 ? atoi(argv[2]) : 0;
  if (!strcmp(argv[1], "thread")) {
    pthread_t t;
    pthread_create(&t, NULL, listener, NULL);
    pthread_join(t, NULL);
    for (;;) {
      int c = accept(lfd, NULL, NULL);
      if (c < 0) return 1;
      const char *m = "HTTP/1.0 200 OK\\r\\n\\r\\nfrom a thread\\n";
      write(c, m, strlen(m));
      close(c);
    }
  }
  if (!strcmp(argv[1], "hide")) { /* the listener in flight (SCM_RIGHTS) for SECONDS, held by no fd, then back */
    listener(NULL);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    send_fd(sv[0], lfd);
    close(lfd);
    printf("hidden\\n");
    fflush(stdout);
    sleep(atoi(argv[3]));
    lfd = recv_fd(sv[1]);
    for (;;) {
      int a = accept(lfd, NULL, NULL);
      if (a < 0) { printf("accept: %s\\n", strerror(errno)); return 1; }
      printf("accepted\\n"), fflush(stdout), close(a);
    }
  }
  if (!strcmp(argv[1], "stall")) { /* connects that wait for hours must not stop the monitor answering */
    listener(NULL);
    g_target = full_queue();
    pthread_t t;
    for (int i = 0; i < 2; i++) pthread_create(&t, NULL, i ? stall_flipped : stall_blocking, NULL);
    usleep(300000);
    struct timespec t0, t1;
    struct sockaddr_in self = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 20; i++) {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(c, (struct sockaddr *)&self, sizeof self) < 0) { perror("connect"); _exit(1); }
      close(accept(lfd, NULL, NULL)), close(c);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("answers: %s\\n", (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000 ? "yes" : "slowly");
    fflush(stdout);
    _exit(0);
  }
  if (!strcmp(argv[1], "selfclient")) { /* its own clients: non-blocking, again, and under a signal storm */
    listener(NULL);
    struct sockaddr_in self = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(s, (struct sockaddr *)&self, sizeof self);
    printf("nonblocking: %s\\n", r == 0 ? "done" : strerror(errno));
    struct pollfd p = {s, POLLOUT, 0};
    poll(&p, 1, 2000);
    printf("again: %s\\n", res(connect(s, (struct sockaddr *)&self, sizeof self)));
    close(accept(lfd, NULL, NULL)), close(s);
    /* blocking connects while SIGALRM comes every 2 ms (SA_RESTART; a profiler's is 10): none may fail */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &it, NULL);
    int failed = 0;
    for (int i = 0; i < 300; i++) {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(c, (struct sockaddr *)&self, sizeof self) < 0) { if (!failed) printf("first failure: %s\\n", strerror(errno)); failed++; }
      else close(accept(lfd, NULL, NULL));
      close(c);
    }
    printf("interrupted: %d failed, %d signals\\n", failed, g_alarms > 0);
    return 0;
  }
  if (!strcmp(argv[1], "range")) { /* the lent socket's own port range: one port (the monitor's), or none */
    listener(NULL);
    uint32_t r = 0;
    socklen_t rl = sizeof r;
    getsockopt(lfd, IPPROTO_IP, 51 /* IP_LOCAL_PORT_RANGE */, &r, &rl);
    printf("range: %s\\n", r && (r & 0xffff) == r >> 16 ? "one port" : "none");
    return 0;
  }
  if (!strcmp(argv[1], "give")) { /* the listener to whoever connects to the abstract unix socket @lendprobe */
    listener(NULL);
    struct sockaddr_un ua;
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(u, (struct sockaddr *)&ua, handoff_addr(&ua)) < 0 || listen(u, 1) < 0) { perror("unix"); return 1; }
    send_fd(accept(u, NULL, NULL), lfd);
    close(lfd);
    printf("given\\n");
    fflush(stdout);
    pause();
  }
  if (!strcmp(argv[1], "take")) { /* ... and this one takes it, and serves */
    struct sockaddr_un ua;
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    while (connect(u, (struct sockaddr *)&ua, handoff_addr(&ua)) < 0) usleep(50000);
    lfd = recv_fd(u);
    printf("taken\\n");
    fflush(stdout);
    for (;;) {
      int a = accept(lfd, NULL, NULL);
      if (a < 0) return 1;
      const char *r = "HTTP/1.0 200 OK\\r\\n\\r\\nserved by the taker\\n";
      write(a, r, strlen(r)), close(a);
    }
  }
  listener(NULL);
  int cl = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in self = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(cl, (struct sockaddr *)&self, sizeof self) < 0) { perror("connect to itself"); return 1; }
  int ch = accept(lfd, NULL, NULL);
  if (ch < 0) { perror("accept"); return 1; }
  struct sockaddr_in t = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (!strcmp(argv[1], "race")) {
    /* What a thread swapping fd 100 between the process's own sockets and a host
       one gets past the monitor's checks: it may drop the host socket's connection
       (Landlock lets any process do that), nothing more. */
    int udp = socket(AF_INET, SOCK_DGRAM, 0), ux = socket(AF_UNIX, SOCK_STREAM, 0);
    int d = race(udp, ch, 0, &t, 500) + race(udp, lfd, 0, &t, 500);
    printf("disconnect: %d\\n", d);
    printf("connect out: %s\\n", race(udp, lfd, 1, &t, 500) || race(udp, ch, 1, &t, 500) ? "won" : "lost");
    printf("bind elsewhere: %s\\n", race(udp, ch, 2, &t, 500) ? "won" : "lost");
    printf("listen elsewhere: %s\\n", race(ux, ch, 3, &t, 300) ? "won" : "lost");
    return 0;
  }
  /* a thread with an fd table of its own: its fd 100 the accepted connection, the leader's a TCP socket of its own */
  g_private = ch;
  dup2(socket(AF_INET, SOCK_STREAM, 0), 100);
  pthread_t pt;
  pthread_create(&pt, NULL, private_table, NULL);
  pthread_join(pt, NULL);
  struct sockaddr un = {.sa_family = AF_UNSPEC};
  connect(ch, &un, sizeof un);
  struct sockaddr_in other = {.sin_family = AF_INET, .sin_port = htons(port + 1)};
  printf("child bind: %s\\n", res(bind(ch, (struct sockaddr *)&other, sizeof other)));
  printf("child listen: %s\\n", res(listen(ch, 1)));
  printf("child connect: %s\\n", conn(ch, &t));
  /* its own client (a connect to its published port): a socket of the host's, connected to the
     host port, that does only that too */
  uint32_t crange = 0;
  socklen_t crl = sizeof crange;
  getsockopt(cl, IPPROTO_IP, 51 /* IP_LOCAL_PORT_RANGE */, &crange, &crl);
  printf("client range: %s\\n", crange && (crange & 0xffff) == crange >> 16 ? "one port" : "none");
  printf("client disconnect: %s\\n", res(connect(cl, &un, sizeof un)));
  printf("client listen: %s\\n", res(listen(cl, 1)));
  printf("client connect: %s\\n", conn(cl, &t));
  connect(lfd, &un, sizeof un);
  int zero = 0;
  printf("detach: %s\\n", res(setsockopt(lfd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof zero)));
  printf("listener connect: %s\\n", conn(lfd, &t));
  uint32_t range = 1 << 16 | 65535;
  printf("port range: %s\\n", res(setsockopt(socket(AF_INET, SOCK_STREAM, 0), IPPROTO_IP, 51, &range, sizeof range)));
  int fo = socket(AF_INET, SOCK_STREAM, 0);
  printf("fast open: %s\\n", res(sendto(fo, "x", 1, 0x20000000 /* MSG_FASTOPEN */, (struct sockaddr *)&t, sizeof t) < 0 ? -1 : 0));
  printf("own connect: %s\\n", conn(fo, &t));
  /* a blocking connect that waits (a listener of its own with its queue full), 300 ms at most */
  struct sockaddr_in qa = full_queue();
  int w = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {0, 300000};
  setsockopt(w, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  printf("waiting connect: %s\\n", res(connect(w, (struct sockaddr *)&qa, sizeof qa)));
  char p[128];
  printf("io_uring: %s\\n", res((int)syscall(425, 8, p)));
  return 0;
}
`,
  );
  // netprobe threads N IP PORT: N threads at once, each its first socket, a TCP connection
  // to IP:PORT and a read: "ok" or what failed, a line each. netprobe many N: N threads'
  // first socket() at once. netprobe sig 0|1: socket() under a timer's signals, without
  // SA_RESTART or with it. netprobe uring: io_uring_setup.
  writeFileSync(
    join(udpDir, "netprobe.c"),
    `#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
static struct sockaddr_in dst;
static pthread_barrier_t go;
static void *one(void *arg) {
  char *out = arg;
  pthread_barrier_wait(&go);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return snprintf(out, 64, "socket: %s", strerror(errno)), NULL;
  if (connect(s, (struct sockaddr *)&dst, sizeof dst) < 0) return snprintf(out, 64, "connect: %s", strerror(errno)), NULL;
  static const char req[] = "GET / HTTP/1.0\\r\\n\\r\\n";
  char buf[64];
  ssize_t n = write(s, req, sizeof req - 1) == sizeof req - 1 ? read(s, buf, sizeof buf) : -1;
  snprintf(out, 64, n > 0 ? "ok" : "read: %s", strerror(errno));
  close(s);
  return NULL;
}
static void *many_one(void *arg) {
  pthread_barrier_wait(&go);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  *(int *)arg = s < 0 ? errno : 0;
  if (s >= 0) close(s);
  return NULL;
}
static volatile int alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }
int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "threads")) {
    int n = atoi(argv[2]);
    static pthread_t t[64];
    static char res[64][64];
    if (n < 1 || n > 64) return 2;
    dst.sin_family = AF_INET;
    dst.sin_port = htons(atoi(argv[4]));
    inet_pton(AF_INET, argv[3], &dst.sin_addr);
    pthread_barrier_init(&go, NULL, n);
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, one, res[i]);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL), printf("%s\\n", res[i]);
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "many")) { /* N threads' first socket() at once */
    int n = atoi(argv[2]), bad = 0, err = 0;
    static pthread_t t[4096];
    static int res[4096];
    if (n < 1 || n > 4096) return 2;
    pthread_barrier_init(&go, NULL, n);
    for (int i = 0; i < n; i++)
      if (pthread_create(&t[i], NULL, many_one, &res[i])) return 3;
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL), bad += res[i] != 0, err = res[i] ? res[i] : err;
    if (bad) printf("%d of %d failed: %s\\n", bad, n, strerror(err));
    else printf("%d ok\\n", n);
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "sig")) { /* socket() under a timer's signals: 0 without SA_RESTART (every 20 ms), 1 with (every 50 us) */
    int restart = atoi(argv[2]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, restart ? 50 : 20000}, {0, restart ? 50 : 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int e = errno;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("socket: %s (%s)\\n", s >= 0 ? "ok" : strerror(e), alarms ? "interrupted" : "no signal");
    return 0;
  }
  if (argc == 4 && (!strcmp(argv[1], "srv") || !strcmp(argv[1], "cli"))) { /* a dual-stack TCP server (answers "hello") or client */
    struct sockaddr_in6 a;
    struct in_addr v4;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &v4) == 1) a.sin6_addr.s6_addr[10] = a.sin6_addr.s6_addr[11] = 0xff, memcpy(&a.sin6_addr.s6_addr[12], &v4, 4);
    else if (inet_pton(AF_INET6, argv[2], &a.sin6_addr) != 1) return 2;
    int s = socket(AF_INET6, SOCK_STREAM, 0), zero = 0;
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (argv[1][0] == 's') {
      if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) return printf("bind: %s\\n", strerror(errno)), 0;
      listen(s, 8);
      printf("listening\\n");
      fflush(stdout);
      for (int c; (c = accept(s, NULL, NULL)) >= 0; close(c)) write(c, "hello\\n", 6);
      return 1;
    }
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) return printf("connect: %s\\n", strerror(errno)), 0;
    char b[64];
    ssize_t n = read(s, b, sizeof b - 1);
    b[n > 0 ? n : 0] = 0;
    printf("got %s", b);
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "uring")) {
    char p[120];
    memset(p, 0, sizeof p);
    int fd = (int)syscall(425, 8, p);
    printf("io_uring: %s\\n", fd >= 0 ? "ok" : strerror(errno));
    return 0;
  }
  return 2;
}
`,
  );
  const cc = Bun.which("musl-gcc") ? "musl-gcc" : "gcc";
  for (const prog of ["udpecho", "lendprobe", "netprobe"]) {
    const r = Bun.spawnSync([cc, "-static", "-Os", "-o", join(udpDir, prog), join(udpDir, `${prog}.c`), "-lpthread"], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`compiling ${prog}: ${r.stderr}`);
    chmodSync(join(udpDir, prog), 0o755);
  }
});

/**
 * A server on the host's 127.0.0.1 that a container may reach only from the
 * host's own network (pasta maps nothing to it): fn gets its port; returns how
 * many connections it took meanwhile.
 */
async function hostOnlyServer(fn: (port: number) => Promise<void>): Promise<number> {
  let accepted = 0;
  const srv = createServer((c) => {
    accepted++;
    c.destroy();
  });
  const port: number = await new Promise((res) => srv.listen(0, "127.0.0.1", () => res((srv.address() as any).port)));
  try {
    await fn(port);
  } finally {
    await new Promise((res) => srv.close(res));
  }
  return accepted;
}

/** lendprobe's "what: result" lines (and "bound PORT") as an object. */
function probeLines(out: string): Record<string, string> {
  return Object.fromEntries(out.trim().split("\n").map((l) => l.split(/: | (?=\d)/) as [string, string]));
}

/** The processes listening on a TCP port of the host (ss, as root). */
function listeners(port: number): string {
  return Bun.spawnSync(["ss", "-Htlnp", `sport = :${port}`]).stdout.toString();
}

describe.each(MODES)("network (%s)", (mode) => {
  const b = box(mode);
  cleanEach(b);
  beforeAll(async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
  });

  test("the default is pasta: interface, DNS, /etc/hosts, and the host's 127.0.0.1 via host.containers.internal", async () => {
    const seen: string[] = [];
    const srv = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req, server) {
        seen.push(server.requestIP(req)?.address ?? "");
        return new Response("hello from the host\n");
      },
    });
    try {
      const id = (await b.ok(["create", "--name", "dflt", BB, "sh", "-c",
        `ip -o -4 addr show scope global | wc -l; cat /etc/resolv.conf; cat /etc/hosts; hostname; wget -qO- http://host.containers.internal:${srv.port}/`])).trim();
      const ins = JSON.parse(await b.ok(["inspect", "dflt"]))[0];
      expect(ins.HostConfig.NetworkMode).toBe("pasta");
      // the host's address and its prefix (pasta copies them), as `ip` shows the host's
      const hostIp = Bun.spawnSync(["ip", "-o", "-4", "route", "get", "1.1.1.1"]).stdout.toString().match(/ src (\S+)/)?.[1];
      const hostCidr = Bun.spawnSync(["ip", "-o", "-4", "addr", "show"]).stdout.toString().match(new RegExp(` inet ${hostIp}/(\\d+)`))?.[1];
      expect([ins.NetworkSettings.IPAddress, ins.NetworkSettings.IPPrefixLen]).toEqual(hostIp ? [hostIp, Number(hostCidr)] : ["", 0]);
      // every field of Podman's NetworkSettings is there (a template naming one must not fail)
      for (const k of ["EndpointID", "Gateway", "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "MacAddress", "Bridge", "SandboxID", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen", "Ports", "SandboxKey"]) {
        expect([k, k in ins.NetworkSettings]).toEqual([k, true]);
      }
      expect(await b.ok(["inspect", "dflt", "--format", "{{.NetworkSettings.GlobalIPv6Address}}|{{.NetworkSettings.HairpinMode}}"])).toBe("|false\n");
      const r = await b.run(["start", "-a", "dflt"]);
      expect(r.code).toBe(0);
      const lines = r.stdout.split("\n");
      expect(Number(lines[0])).toBeGreaterThan(0); // an interface besides lo
      expect(r.stdout).toContain("nameserver 169.254.1.1");
      expect(r.stdout).toMatch(/^\S+\thost\.containers\.internal host\.docker\.internal$/m);
      expect(r.stdout).toMatch(new RegExp(`^\\S+\\t${id.slice(0, 12)} dflt$`, "m"));
      expect(r.stdout).toContain("hello from the host");
      expect(seen).toEqual(["127.0.0.1"]);
      expect(await helpersLeft(id)).toEqual([]); // pasta went with the container
      await b.ok(["rm", "dflt"]);
    } finally {
      srv.stop(true);
    }
    // a container that switches to another user before its exec still gets its network (pasta and slirp4netns)
    for (const net of ["pasta", "slirp4netns"]) {
      expect(await b.ok(["run", "--rm", "-u", "www-data", "--network", net, BB, "sh", "-c", "id -u; ip -o -4 addr show scope global | wc -l"])).toBe("33\n1\n");
    }
    // DNS through pasta's forwarder answers what the host's resolver answers
    const host = Bun.spawnSync(["busybox", "nslookup", "deb.debian.org"], { stdout: "pipe" });
    if (host.exitCode === 0) {
      const addr = /Address: (\d+\.\d+\.\d+\.\d+)\s*$/m.exec(host.stdout.toString())?.[1];
      const out = await b.ok(["run", "--rm", BB, "nslookup", "deb.debian.org"]);
      if (addr) expect(out).toContain(addr);
    }
  });

  test("pasta starts at the container's first socket: none for a container that makes none; exec, a joiner, racing threads and io_uring find it up", async () => {
    const srv = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("hi\n") });
    try {
      const id = (await b.ok(["run", "-d", "--name", "lazy", BB, "sleep", "60"])).trim();
      await Bun.sleep(300);
      expect(helperProcs(id)).toEqual([]); // (before: pasta was up before run -d returned)
      // exec's process runs under the container's filter: its first socket (ip's netlink) starts pasta
      expect(await b.ok(["exec", "lazy", "sh", "-c", "ip -o -4 addr show scope global | wc -l"])).toBe("1\n");
      expect(helperProcs(id).length).toBe(1);
      // once it is up, an exec'd process runs under no network filter, only the keyrings' one
      // (the container's own processes still have both)
      expect(await b.ok(["exec", "lazy", "sh", "-c", "grep ^Seccomp_filters: /proc/self/status /proc/1/status"])).toBe("/proc/self/status:Seccomp_filters:\t1\n/proc/1/status:Seccomp_filters:\t2\n");
      // a container joining the network gets it up first (its processes are not the ones watched)
      const id2 = (await b.ok(["run", "-d", "--name", "lazy2", BB, "sleep", "60"])).trim();
      expect(await b.ok(["run", "--rm", "--network", "container:lazy2", BB, "sh", "-c", "ip -o -4 addr show scope global | wc -l"])).toBe("1\n");
      expect(helperProcs(id2).length).toBe(1);
      // 16 threads' first sockets at once, each a connection to the host through pasta: every one waited
      const gw = JSON.parse(await b.ok(["inspect", "lazy"]))[0].NetworkSettings.Gateway;
      expect(await b.ok(["run", "--rm", "-v", `${udpDir}:/t:ro`, BB, "/t/netprobe", "threads", "16", gw, String(srv.port)])).toBe("ok\n".repeat(16));
      // 1500 threads' first sockets at once; a socket() that signals interrupt while it waits
      // (without SA_RESTART: it does not fail EINTR; with it, a storm of them: no refusal)
      expect(await b.ok(["run", "--rm", "-v", `${udpDir}:/t:ro`, BB, "/t/netprobe", "many", "1500"])).toBe("1500 ok\n");
      expect(await b.ok(["run", "--rm", "-v", `${udpDir}:/t:ro`, BB, "/t/netprobe", "sig", "0"])).toBe("socket: ok (interrupted)\n");
      expect(await b.ok(["run", "--rm", "-v", `${udpDir}:/t:ro`, BB, "/t/netprobe", "sig", "1"])).toBe("socket: ok (interrupted)\n");
      // io_uring makes sockets past seccomp: its setup starts the network too
      const id3 = (await b.ok(["run", "-d", "--name", "lazy3", "-v", `${udpDir}:/t:ro`, BB, "sh", "-c", "/t/netprobe uring; exec sleep 60"])).trim();
      await waitLog(b, "lazy3", /io_uring: ok/);
      expect(helperProcs(id3).length).toBe(1);
      await b.ok(["rm", "-f", "-t", "0", "lazy", "lazy2", "lazy3"]);
      for (const i of [id, id2, id3]) expect(helperProcs(i)).toEqual([]);
    } finally {
      srv.stop(true);
    }
  });

  test("a pasta that fails at the container's first socket leaves it its loopback (said once), and later sockets try again; one that makes none never starts it; TSPOD_NET_START=eager", async () => {
    const srv = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("hi\n") });
    const fake = userDir(b);
    // fails the first two times it is started, then is the real pasta
    writeFileSync(join(fake, "pasta"), `#!/bin/sh\nn=$(cat ${fake}/count 2>/dev/null || echo 0); echo $((n+1)) >${fake}/count\nif [ "$n" -lt 2 ]; then echo 'pasta: no network here' >&2; exit 1; fi\nexec /usr/bin/pasta "$@"\n`, { mode: 0o755 });
    const env = { PATH: `${fake}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` };
    try {
      expect(await b.run(["run", "--rm", BB, "true"], { env })).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(existsSync(join(fake, "count"))).toBe(false); // never started
      const url = `http://host.containers.internal:${srv.port}/`;
      // (a try at once, another 1 s after the first failure, the third 2 s after the second)
      const r = await b.run(["run", "--name", "lzf", BB, "sh", "-c", `wget -q -O- ${url} || echo failed; sleep 1.3; wget -q -O- ${url} || echo failed; sleep 2.3; wget -q -O- ${url}`], { env });
      expect([r.code, r.stdout]).toEqual([0, "failed\nfailed\nhi\n"]);
      expect(r.stderr).toContain("WARN[tspod] the container's network could not be set up (pasta failed (exit 1): pasta: no network here): it has its loopback only; a socket in 1 s or later tries again\n");
      expect(r.stderr.match(/WARN/g)?.length).toBe(1); // said once
      expect(readFileSync(join(fake, "count"), "utf8")).toBe("3\n");
      expect(await b.ok(["inspect", "lzf", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"])).toBe("exited 0 \n");
      await b.ok(["rm", "lzf"]);
      // with the container, as before: nothing runs
      rmSync(join(fake, "count"));
      const e = await b.run(["run", "--rm", BB, "true"], { env: { ...env, TSPOD_NET_START: "eager" } });
      expect([e.code, e.stderr]).toEqual([125, "Error: pasta failed (exit 1): pasta: no network here\n"]);
    } finally {
      srv.stop(true);
    }
  });

  test("--add-host, --dns, --dns-search, --dns-option, --no-hosts, a host name with a domain: the files as Podman writes them", async () => {
    const out = await b.ok(["run", "--rm", "--name", "names", "--hostname", "web.example.com", "--add-host", "db:10.1.2.3", "--add-host", "gw:host-gateway", "--add-host", "six:fd00::1",
      "--dns", "10.9.9.9", "--dns", "10.8.8.8", "--dns-search", "a.example", "--dns-search", "b.example", "--dns-option", "ndots:3", BB,
      "sh", "-c", "cat /etc/hosts; echo --; cat /etc/resolv.conf; echo --; hostname -f; hostname -d; ping -c 1 -W 1 db 2>&1 | head -1"]);
    const [hosts, resolv, rest] = out.split("--\n");
    const lines = hosts!.trim().split("\n");
    // the --add-host lines first (they win), the container's own last: its host name, then its name
    expect(lines.slice(0, 3)).toEqual(["10.1.2.3\tdb", expect.stringMatching(/^\S+\tgw$/), "fd00::1\tsix"]);
    const gw = lines[1]!.split("\t")[0];
    expect(hosts).toContain(`${gw}\thost.containers.internal host.docker.internal\n`);
    expect(lines.at(-1)).toMatch(/^\S+\tweb\.example\.com names$/);
    // the host's own entries are there, as Podman copies them
    const hostEntries = readFileSync("/etc/hosts", "utf8").split("\n").map((l) => l.replace(/#.*/, "").trim().split(/\s+/)).filter((f) => f.length > 1);
    for (const f of hostEntries) expect(hosts).toContain(`${f[0]}\t${f.slice(1).join(" ")}\n`);
    expect(resolv).toBe("nameserver 10.9.9.9\nnameserver 10.8.8.8\nsearch a.example b.example\noptions ndots:3\n");
    expect(rest).toMatch(/^web\.example\.com\nexample\.com\nPING db \(10\.1\.2\.3\)/);
    const ins = JSON.parse(await b.ok(["create", "--dns", "10.9.9.9", "--dns-search", ".", "--add-host", "db:10.1.2.3", BB, "true"]).then((id) => b.ok(["inspect", id.trim()])))[0];
    expect([ins.HostConfig.Dns, ins.HostConfig.DnsSearch, ins.HostConfig.ExtraHosts]).toEqual([["10.9.9.9"], ["."], ["db:10.1.2.3"]]);
    // --dns-search . : no search line; --no-hosts / --dns none: the image's own files (busybox has none)
    expect(await b.ok(["run", "--rm", "--dns-search", ".", BB, "sh", "-c", "grep -c ^search /etc/resolv.conf || true"])).toBe("0\n");
    expect(await b.ok(["run", "--rm", "--no-hosts", "--dns", "none", BB, "sh", "-c", "ls /etc/hosts /etc/resolv.conf 2>&1 | grep -c 'No such'"])).toBe("2\n");
    // an empty --hostname is the default (the ID), not an empty name
    const idHost = await b.ok(["run", "--rm", "--hostname", "", BB, "hostname"]);
    expect(idHost).toMatch(/^[0-9a-f]{12}\n$/);
    // refused: bad values, and a network whose files belong to another container
    await b.ok(["run", "-d", "--name", "owner", BB, "sleep", "30"]);
    for (const [args, err] of [
      [["--add-host", "nocolon"], 'Error: invalid --add-host "nocolon": use HOST:IP (IP may be host-gateway)\n'],
      [["--add-host", "h:999.1.1.1"], 'Error: invalid --add-host "h:999.1.1.1": use HOST:IP (IP may be host-gateway)\n'],
      [["--dns", "dns.example"], 'Error: invalid --dns "dns.example": an IP address (or none)\n'],
      [["--no-hosts", "--add-host", "a:1.1.1.1"], "Error: --no-hosts and --add-host cannot be set together\n"],
      [["--network", "container:owner", "--dns", "1.1.1.1"], "Error: --dns cannot be used with --network container:owner: the shared network's /etc/hosts and /etc/resolv.conf are that container's\n"],
    ] as const) {
      const r = await b.run(["run", "--rm", ...args, BB, "true"]);
      expect([args, r.code, r.stderr]).toEqual([args, 125, err]);
    }
    await b.ok(["rm", "-f", "-t", "0", "owner", ins.Id]);
    // a pod takes them for all its members
    await b.ok(["pod", "create", "--name", "pnames", "--add-host", "db:10.1.2.3", "--dns", "10.9.9.9", "--dns-search", "p.example"]);
    expect(await b.ok(["run", "--rm", "--pod", "pnames", BB, "sh", "-c", "head -1 /etc/hosts; cat /etc/resolv.conf"])).toMatch(/^10\.1\.2\.3\tdb\nnameserver 10\.9\.9\.9\nsearch p\.example\n/);
    await b.ok(["pod", "rm", "-f", "pnames"]);
  });

  test("-p: httpd fetched from the host, the client's address kept, port/ps/inspect, conflicts, freed after rm -f", async () => {
    const port = await freePort();
    const www = wwwDir(b);
    const id = (await b.ok(["run", "-d", "--name", "web", "-p", `${port}:80`, "-v", `${www}:/www:ro`, BB, "httpd", "-f", "-vv", "-p", "80", "-h", "/www"])).trim();
    expect(await fetchText(`http://127.0.0.1:${port}/`)).toBe("hello from httpd\n");
    // pasta splices loopback connections: the server sees the real 127.0.0.1
    expect(await fetchText(`http://127.0.0.1:${port}/cgi-bin/ip`)).toMatch(/^remote=(\[::ffff:)?127\.0\.0\.1\]?\n$/);
    await waitLog(b, "web", /127\.0\.0\.1.*url:\/cgi-bin\/ip/);
    expect(await b.ok(["port", "web"])).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
    expect(await b.ok(["port", "web", "80"])).toBe(`0.0.0.0:${port}\n`);
    expect((await b.run(["port", "web", "81"])).code).toBe(125);
    expect(await b.ok(["ps", "--format", "{{.Names}} {{.Ports}}"])).toBe(`web 0.0.0.0:${port}->80/tcp\n`);
    const ins = JSON.parse(await b.ok(["inspect", "web"]))[0];
    expect(ins.NetworkSettings.Ports).toEqual({ "80/tcp": [{ HostIp: "", HostPort: String(port) }] });
    expect(ins.HostConfig.PortBindings).toEqual({ "80/tcp": [{ HostIp: "", HostPort: String(port) }] });
    expect(helperProcs(id).length).toBe(1);
    // pasta.avx2 beside pasta, on a CPU with AVX2: run directly (pasta would re-execute itself as it)
    const avx2 = existsSync("/usr/bin/pasta.avx2") && /^flags\s*:.*\bavx2\b/m.test(readFileSync("/proc/cpuinfo", "utf8"));
    expect(helperProcs(id)[0]!.split(" ")[1]).toMatch(avx2 ? /\/pasta\.avx2$/ : /\/pasta$/);

    // a second container asking for the same port: exit 125, a clear message, nothing left
    const before = (await b.ps()).length;
    let r = await b.run(["run", "-d", "--name", "web2", "-p", `${port}:80`, BB, "httpd", "-f", "-p", "80"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(new RegExp(`^Error: cannot publish port 0\\.0\\.0\\.0:${port}/tcp: the host port is already in use\\n$`));
    expect((await b.ps()).length).toBe(before);
    expect((await b.run(["container", "exists", "web2"])).code).toBe(1);
    // start of a created one whose port is taken: 125, and it stays created (as Podman leaves it)
    await b.ok(["create", "--name", "web3", "-p", `${port}:80`, BB, "httpd", "-f", "-p", "80"]);
    r = await b.run(["start", "web3"]);
    expect([r.code, r.stderr]).toEqual([125, `Error: cannot publish port 0.0.0.0:${port}/tcp: the host port is already in use\n`]);
    expect(await b.ok(["ps", "-a", "--filter", "name=web3", "--format", "{{.State}} {{.Status}}"])).toBe("created Created\n");
    await b.ok(["rm", "web3"]);

    // a host process holding a port: the same, with --rm and attached too
    const held = await freePort();
    const srv = await listen(held);
    try {
      for (const args of [["run", "--rm", "-p", `${held}:80`, BB, "true"], ["run", "-d", "--name", "web3", "-p", `127.0.0.1:${held}:80`, BB, "sleep", "9"]]) {
        r = await b.run(args);
        expect(r.code).toBe(125);
        expect(r.stderr).toContain(`:${held}/tcp: the host port is already in use`);
      }
      expect((await b.ps()).length).toBe(before);
    } finally {
      await new Promise((res) => srv.close(res));
    }
    // ... also when the process holds it on IPv6 only (pasta binds both families)
    const srv6 = createServer();
    const held6: number = await new Promise((res, rej) => {
      srv6.once("error", rej);
      srv6.listen({ port: 0, host: "::", ipv6Only: true }, () => res((srv6.address() as any).port));
    });
    try {
      r = await b.run(["run", "--rm", "-p", `${held6}:80`, BB, "true"]);
      expect([r.code, r.stderr]).toEqual([125, `Error: cannot publish port [::]:${held6}/tcp: the host port is already in use\n`]);
      expect((await b.ps()).length).toBe(before);
    } finally {
      await new Promise((res) => srv6.close(res));
    }
    // a loopback publish holds [::1] too: the container's own IPv6 clients go there, and a
    // process of the host listening on it first would have them (a lent port it is not)
    const srv61 = createServer();
    const held61: number = await new Promise((res, rej) => {
      srv61.once("error", rej);
      srv61.listen({ port: 0, host: "::1", ipv6Only: true }, () => res((srv61.address() as any).port));
    });
    try {
      r = await b.run(["run", "--rm", "-p", `127.0.0.1:${held61}:80`, BB, "true"]);
      expect([r.code, r.stderr]).toEqual([125, `Error: cannot publish port [::1]:${held61}/tcp: the host port is already in use\n`]);
    } finally {
      await new Promise((res) => srv61.close(res));
    }

    await b.ok(["rm", "-f", "web"]);
    expect(helperProcs(id)).toEqual([]);
    expect(await canBind(port)).toBe(true);
  });

  test("-p IP:H:C on another IPv4 address of the host's is lent too: bound there alone, uploads to a server that shuts its side first arrive whole, the client's address, the container's own clients", async () => {
    const hostIp = Bun.spawnSync(["ip", "-o", "-4", "route", "get", "1.1.1.1"]).stdout.toString().match(/ src (\S+)/)?.[1];
    expect(hostIp).toBeDefined(); // (pasta, the default, needs a default route too)
    const [p1, p2] = [await freePort(), await freePort()];
    // busybox nc -l with no input shuts its sending side at once: Debian 12's pasta -t cut and garbled such uploads
    const out = userDir(b);
    await b.ok(["run", "-d", "--name", "ipl", "-p", `${hostIp}:${p1}:80`, "-v", `${out}:/out`, BB, "sh", "-c", "nc -l -p 80 > /out/got"]);
    for (let i = 0; i < 100 && !listeners(p1).includes("nc"); i++) await Bun.sleep(50);
    expect(listeners(p1)).toMatch(new RegExp(`\\[::ffff:${hostIp!.replace(/\./g, "\\.")}\\]:${p1} .*"nc"|${hostIp!.replace(/\./g, "\\.")}:${p1} .*"nc"`));
    const data = new Uint8Array(4 << 20).map((_, i) => (i * 7919) % 251);
    await new Promise<void>((resolve, reject) => {
      const c = netConnect(p1, hostIp!, () => c.end(data));
      c.on("error", reject);
      c.on("close", () => resolve());
      c.resume();
    });
    expect(await b.ok(["wait", "ipl"])).toBe("0\n");
    expect(Buffer.from(readFileSync(join(out, "got"))).equals(Buffer.from(data))).toBe(true);
    // published there alone: nothing on the host's loopback
    expect(await canBind(p1)).toBe(true);
    const www = wwwDir(b);
    // (a host name of its own: busybox cannot look up an ID of digits only, the default now and then)
    await b.ok(["run", "-d", "--name", "ipw", "--hostname", "ipwhost", "-p", `${hostIp}:${p2}:80`, "-v", `${www}:/www:ro`, BB, "httpd", "-f", "-p", "80", "-h", "/www"]);
    expect(await fetchText(`http://${hostIp}:${p2}/cgi-bin/ip`)).toMatch(new RegExp(`^remote=(\\[::ffff:)?${hostIp!.replace(/\./g, "\\.")}\\]?\n$`));
    expect((await b.run(["exec", "ipw", "sh", "-c", "wget -q -O- http://127.0.0.1/ && wget -q -O- http://$(hostname)/"])).stdout).toBe("hello from httpd\nhello from httpd\n");
    expect(await b.ok(["port", "ipw"])).toBe(`80/tcp -> ${hostIp}:${p2}\n`);
    await b.ok(["rm", "-f", "-t", "0", "ipl", "ipw"]);
    expect(await canBind(p2)).toBe(true);
    // a server on the container's loopback (127/8, v4-mapped too) is not lent: it serves the
    // container's own clients, not the host; an address the container lacks fails as the kernel's
    await b.ok(["run", "-d", "--name", "ipo", "-p", `${hostIp}:${p2}:80`, "-v", `${udpDir}:/t:ro`, BB, "/t/netprobe", "srv", "::ffff:127.0.0.2", "80"]);
    await waitLog(b, "ipo", /listening/);
    expect(await b.ok(["exec", "ipo", "/t/netprobe", "cli", "127.0.0.2", "80"])).toBe("got hello\n");
    const refused = await new Promise<boolean>((resolve) => {
      const c = netConnect(p2, hostIp!, () => (c.destroy(), resolve(false)));
      c.on("error", () => resolve(true));
    });
    expect(refused).toBe(true);
    expect(await b.ok(["exec", "ipo", "/t/netprobe", "srv", "10.9.9.9", "80"])).toBe("bind: Address not available\n");
    await b.ok(["rm", "-f", "-t", "0", "ipo"]);
  });

  test("-p TCP without a forwarder: the server's own socket on the host, the client's address, exec'd servers, the container's own clients", async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const www = wwwDir(b);
    const id = (await b.ok(["run", "-d", "--name", "lend", "--hostname", "lendhost", "-p", `${p1}:80`, "-p", `127.0.0.1:${p2}:8080`, "-v", `${www}:/www:ro`, "-v", `${udpDir}:/t:ro`, BB, "httpd", "-f", "-p", "80", "-h", "/www"])).trim();
    expect(await fetchText(`http://127.0.0.1:${p1}/`)).toBe("hello from httpd\n");
    // the host port's listener is the container's httpd itself, not pasta
    expect(listeners(p1)).toMatch(/users:\(\("httpd",pid=\d+,fd=\d+\)\)/);
    expect(listeners(p1)).not.toContain("pasta");
    // a client from 127.0.0.2: the server sees 127.0.0.2 (through a forwarder it would see the forwarder's address)
    const viaTwo = Bun.spawnSync(["curl", "-sf", "--interface", "127.0.0.2", `http://127.0.0.1:${p1}/cgi-bin/ip`]);
    expect(viaTwo.stdout.toString()).toMatch(/^remote=(\[::ffff:)?127\.0\.0\.2\]?\n$/);
    // the container's own clients reach the published port inside it: on loopback, IPv6's
    // too, and on its own address (its host name: nothing listens on that in the namespace)
    expect(await b.ok(["exec", "lend", "wget", "-qO-", "http://127.0.0.1:80/"])).toBe("hello from httpd\n");
    // (a host name of its own: busybox cannot look up one of digits only, which the default,
    // a 12-character ID, is now and then; and awk compares as strings: busybox's awk takes an
    // ID like 18523e073221 for a number, one in ~400: both seen in CI)
    expect(await b.ok(["exec", "lend", "sh", "-c", "wget -qO- http://[::1]:80/; wget -qO- http://$(hostname):80/; wget -qO- http://$(awk -v h=$(hostname) '$2\"\" == h\"\" { print $1; exit }' /etc/hosts):80/"])).toBe("hello from httpd\n".repeat(3));
    // a server that answers and closes at once: every answer arrives (pasta's -T lost them)
    await b.ok(["exec", "-d", "lend", "/t/lendprobe", "thread", "8080"]);
    let first = "";
    for (let i = 0; i < 50 && !first.includes("from a thread"); i++) {
      first = (await b.run(["exec", "lend", "sh", "-c", "nc 127.0.0.1 8080 </dev/null"])).stdout;
      if (!first.includes("from a thread")) await Bun.sleep(100);
    }
    const answers = await b.ok(["exec", "lend", "sh", "-c", "for i in 1 2 3 4 5; do nc 127.0.0.1 8080 </dev/null; nc $(hostname) 8080 </dev/null; done"]);
    expect(answers.split("from a thread\n").length - 1).toBe(10);
    await b.ok(["exec", "lend", "sh", "-c", "kill $(ps -o pid,args | awk '/[l]endprobe thread/ {print $1}')"]);
    for (let i = 0; i < 50 && listeners(p2).includes("lendprobe"); i++) await Bun.sleep(100);
    // a server started by exec on the other published port (host side on 127.0.0.1 only)
    await b.ok(["exec", "-d", "lend", "httpd", "-f", "-p", "8080", "-h", "/www"]);
    expect(await fetchText(`http://127.0.0.1:${p2}/`)).toBe("hello from httpd\n");
    expect(listeners(p2)).toContain('"httpd"');
    expect(listeners(p2).trim().split(/\s+/)[3]).toBe(`[::ffff:127.0.0.1]:${p2}`); // busybox httpd: an IPv6 socket
    // published on 127.0.0.1 alone, that dual-stack server takes the container's own clients of
    // [::1] too, as the kernel would in the container (they were refused: [::1] is the monitor's hold)
    expect(await b.ok(["exec", "lend", "wget", "-qO-", "http://[::1]:8080/"])).toBe("hello from httpd\n");
    // that server stopped and started again: served again
    await b.ok(["exec", "lend", "sh", "-c", "kill $(ps -o pid,args | awk '/[h]ttpd -f -p 8080/ {print $1}')"]);
    for (let i = 0; i < 50 && listeners(p2).includes("httpd"); i++) await Bun.sleep(100);
    expect(listeners(p2)).toBe("");
    await b.ok(["exec", "-d", "lend", "httpd", "-f", "-p", "8080", "-h", "/www"]);
    expect(await fetchText(`http://127.0.0.1:${p2}/`)).toBe("hello from httpd\n");
    // a port that is not published binds inside the container as ever
    await b.ok(["exec", "-d", "lend", "httpd", "-f", "-p", "9090", "-h", "/www"]);
    let inside = "";
    for (let i = 0; i < 50 && inside !== "hello from httpd\n"; i++) {
      inside = (await b.run(["exec", "lend", "wget", "-qO-", "http://127.0.0.1:9090/"])).stdout;
      if (inside !== "hello from httpd\n") await Bun.sleep(100);
    }
    expect(inside).toBe("hello from httpd\n");
    expect(listeners(9090)).not.toContain("httpd");
    // the container's clients of the host (through pasta, made by the monitor: TCP connects are
    // the monitor's in such a container) reach it, and the host sees pasta's 127.0.0.1
    const host = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (_r, srv) => new Response(`host saw ${srv.requestIP(_r)?.address}\n`) });
    try {
      expect(await b.ok(["exec", "lend", "wget", "-qO-", `http://host.containers.internal:${host.port}/`])).toBe("host saw 127.0.0.1\n");
    } finally {
      host.stop(true);
    }
    await b.ok(["rm", "-f", "lend"]);
    expect(helperProcs(id)).toEqual([]);
    expect(await canBind(p1)).toBe(true);
    expect(await canBind(p2)).toBe(true);

    // three containers asking for one port at once: one gets it, two are told at start
    const rs = await Promise.all([1, 2, 3].map((i) => b.run(["run", "-d", "--name", `race${i}`, "-p", `${p1}:80`, BB, "sleep", "30"])));
    expect(rs.map((r) => r.code).sort()).toEqual([0, 125, 125]);
    for (const r of rs.filter((r) => r.code))
      expect(r.stderr).toBe(`Error: cannot publish port 0.0.0.0:${p1}/tcp: the host port is already in use\n`);
    await b.ok(["rm", "-f", "-t", "0", ...[1, 2, 3].map((i) => `race${i}`).filter((_, i) => rs[i]!.code === 0)]);
    expect(await canBind(p1)).toBe(true);
  });

  test("a lent socket and its connections do only that: no other port, no listening elsewhere, no connecting out, no io_uring", async () => {
    const port = await freePort();
    const accepted = await hostOnlyServer(async (target) => {
      const out = await b.ok(["run", "--rm", "-p", `${port}:80`, "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "escape", "80", String(target)]);
      // lent (the host port, not 80). Every TCP bind and connect goes through the monitor,
      // which refuses them on a host socket. As root the monitor may put a locked socket
      // filter on lent sockets too (rootless, Linux refuses filters on TCP sockets to users).
      expect(probeLines(out)).toEqual({
        bound: String(port),
        // a thread with an fd table of its own: the monitor reads that one, as the kernel does
        "private bind": "Permission denied",
        "private disconnect": "Permission denied",
        "private listen": "Permission denied",
        "child bind": "Permission denied",
        "child listen": "Permission denied",
        "child connect": "Permission denied",
        "client range": "one port",
        "client disconnect": "Permission denied",
        "client listen": "Permission denied",
        "client connect": "Socket is connected", // (refused as the kernel refuses a connected socket)
        detach: mode === "root" ? "Operation not permitted" : "No such file or directory",
        "listener connect": "Permission denied",
        // no widening of the port range its connections inherit; fast open as if off
        "port range": "Protocol not available",
        "fast open": "Not supported", // (musl's words for EOPNOTSUPP)
        // the container's own sockets connect (made by the monitor: nothing listens there)
        "own connect": "Connection refused",
        // one that waits (in a worker of the monitor) and runs out of time, as the kernel's would
        "waiting connect": "Operation in progress",
        io_uring: "Function not implemented",
      });
    });
    expect(accepted).toBe(0);
  });

  test("its own clients: a non-blocking connect, connect again, and connects interrupted by signals all work as the kernel's", async () => {
    const port = await freePort();
    const out = await b.ok(["run", "--rm", "-p", `${port}:80`, "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "selfclient", "80"]);
    // (EISCONN on the second connect: it was done, as Ruby's connect_nonblock and Perl's IO::Socket::IP learn it)
    expect(out).toBe(`bound ${port}\nnonblocking: Operation in progress\nagain: Socket is connected\ninterrupted: 0 failed, 1 signals\n`);
  });

  test("connects that wait for hours (one whose O_NONBLOCK a thread keeps clearing) keep nothing else waiting", async () => {
    const port = await freePort();
    const out = await b.ok(["run", "--rm", "-p", `${port}:80`, "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "stall", "80"]);
    expect(out).toBe(`bound ${port}\nanswers: yes\n`);
  });

  test("a thread swapping a lent socket under another thread's calls gets past no check (Landlock refuses what the monitor let go on)", async () => {
    const port = await freePort();
    const accepted = await hostOnlyServer(async (target) => {
      const out = await b.ok(["run", "--rm", "-p", `${port}:80`, "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "race", "80", String(target)]);
      // dropping a host socket's connection may get through (any process may close
      // what it holds); using it for anything else may not
      const seen: Record<string, string> = { ...probeLines(out), disconnect: "?" };
      expect(seen).toEqual({
        bound: String(port),
        disconnect: "?",
        "connect out": "lost",
        "bind elsewhere": "lost",
        "listen elsewhere": "lost",
      });
    });
    expect(accepted).toBe(0);
  });

  test("-p with lent ports: a server binding from a thread; one container port on two host ports; a loopback-only server; a low port needs its capability", async () => {
    const [p1, p2, p3, p4, p5] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    await b.ok(["run", "-d", "--name", "thr", "-p", `${p1}:8080`, "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "thread", "8080"]);
    expect(await fetchText(`http://127.0.0.1:${p1}/`)).toBe("from a thread\n");
    expect(listeners(p1)).toContain('"lendprobe"');
    // one container port published twice: pasta forwards both
    const www = wwwDir(b);
    await b.ok(["run", "-d", "--name", "twice", "-p", `${p2}:80`, "-p", `127.0.0.1:${p3}:80`, "-v", `${www}:/www:ro`, BB, "httpd", "-f", "-p", "80", "-h", "/www"]);
    expect(await fetchText(`http://127.0.0.1:${p2}/`)).toBe("hello from httpd\n");
    expect(await fetchText(`http://127.0.0.1:${p3}/`)).toBe("hello from httpd\n");
    // a server on the container's 127.0.0.1 only: the host's loopback only
    await b.ok(["run", "-d", "--name", "lo", "-p", `${p4}:80`, "-v", `${www}:/www:ro`, BB, "httpd", "-f", "-p", "127.0.0.1:80", "-h", "/www"]);
    expect(await fetchText(`http://127.0.0.1:${p4}/`)).toBe("hello from httpd\n");
    expect(listeners(p4).trim().split(/\s+/)[3]).toBe(`127.0.0.1:${p4}`);
    // port 80 as a user without CAP_NET_BIND_SERVICE: refused, as in its own namespace
    const r = await b.run(["run", "--rm", "--user", "1000", "-p", `${p5}:80`, BB, "httpd", "-f", "-p", "80"]);
    expect([r.code, r.stderr]).toEqual([1, "httpd: bind: Permission denied\n"]);
    await b.ok(["rm", "-f", "-t", "0", "thr", "twice", "lo"]);

    // a container joining one with a published port serves it while that one runs, and not after
    await b.ok(["run", "-d", "--name", "own", "-p", `${p1}:80`, BB, "sleep", "300"]);
    await b.ok(["run", "-d", "--name", "joiner", "--network", "container:own", "-v", `${www}:/www:ro`, BB, "httpd", "-f", "-p", "80", "-h", "/www"]);
    expect(await fetchText(`http://127.0.0.1:${p1}/`)).toBe("hello from httpd\n");
    expect(listeners(p1)).toContain('"httpd"');
    // its lent sockets' connections may take no port of the host, as the owner's (one port is theirs, held)
    for (const args of [["-p", `${p2}:80`], ["--network", "container:own"]]) {
      expect(await b.ok(["run", "--rm", ...args, "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "range", "80"])).toMatch(/\nrange: one port\n$/);
    }
    // ... and ends with it: what was lent in that network must not outlive it
    await b.ok(["stop", "-t", "0", "own"]);
    expect(await b.ok(["wait", "joiner"])).toBe("137\n");
    // and says why (Podman would leave it running: it lends nothing)
    expect(await b.ok(["inspect", "joiner", "--format", "{{.State.Error}}"])).toBe("ended with the container whose network it shares (that container's published ports were lent in it)\n");
    expect(listeners(p1)).toBe("");
    await b.ok(["start", "own"]); // the port is its own again
    await b.ok(["rm", "-f", "-t", "0", "joiner"]);
    // so too one holding the listener where no fd table shows it (in flight in a unix socket's
    // queue), and one given the owner's own (over an abstract unix socket of the shared network)
    await b.ok(["run", "-d", "--name", "joiner", "--network", "container:own", "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "hide", "80", "3"]);
    for (let i = 0; i < 40 && !(await b.ok(["logs", "joiner"])).includes("hidden"); i++) await Bun.sleep(50);
    expect(await b.ok(["logs", "joiner"])).toBe(`bound ${p1}\nhidden\n`);
    expect(await canBind(p1)).toBe(false); // listening, though no process holds it
    await b.ok(["stop", "-t", "0", "own"]);
    expect(await b.ok(["wait", "joiner"])).toBe("137\n");
    expect(await canBind(p1)).toBe(true);
    await b.ok(["rm", "-f", "-t", "0", "joiner", "own"]);
    await b.ok(["run", "-d", "--name", "giver", "-p", `${p1}:80`, "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "give", "80"]);
    await b.ok(["run", "-d", "--name", "taker", "--network", "container:giver", "-v", `${udpDir}:/t:ro`, BB, "/t/lendprobe", "take"]);
    for (let i = 0; i < 40 && !(await b.ok(["logs", "taker"])).includes("taken"); i++) await Bun.sleep(50);
    expect(await fetchText(`http://127.0.0.1:${p1}/`)).toBe("served by the taker\n");
    await b.ok(["stop", "-t", "0", "giver"]);
    expect(await b.ok(["wait", "taker"])).toBe("137\n");
    expect(await canBind(p1)).toBe(true);
    await b.ok(["rm", "-f", "-t", "0", "taker", "giver"]);
  });

  test("stop frees the port; start binds it again; ranges and -P", async () => {
    const base = await freeRange(3);
    const id = (await b.ok(["run", "-d", "--name", "rng", "-p", `${base}-${base + 2}:8000-8002`, BB, "sh", "-c", "nc -l -p 8001 -e echo at-8001; sleep 60"])).trim();
    expect(await b.ok(["port", "rng"])).toBe([0, 1, 2].map((i) => `${8000 + i}/tcp -> 0.0.0.0:${base + i}`).join("\n") + "\n");
    expect(await b.ok(["ps", "--format", "{{.Ports}}"])).toBe(`0.0.0.0:${base}-${base + 2}->8000-8002/tcp\n`);
    let got = "";
    for (let i = 0; i < 50 && !got.includes("at-8001"); i++) {
      got = Bun.spawnSync(["nc", "-w", "2", "127.0.0.1", String(base + 1)], { stdout: "pipe", stdin: "ignore" }).stdout.toString();
      if (!got.includes("at-8001")) await Bun.sleep(100);
    }
    expect(got).toBe("at-8001\n");
    await b.ok(["stop", "-t", "0", "rng"]);
    expect(await b.ok(["port", "rng"])).toBe(""); // not running: no ports in use (Podman)
    expect(helperProcs(id)).toEqual([]);
    for (let i = 0; i < 3; i++) expect(await canBind(base + i)).toBe(true);
    await b.ok(["start", "rng"]);
    // (nc's socket starts pasta, just after the start: native/lend.c)
    for (let i = 0; i < 100 && helperProcs(id).length !== 1; i++) await Bun.sleep(50);
    expect(helperProcs(id).length).toBe(1);
    expect(await canBind(base)).toBe(false);
    await b.ok(["rm", "-f", "rng"]);
    expect(await canBind(base)).toBe(true);

    // -P: the image's EXPOSE list on free host ports; -p 80 alone picks one too
    const repo = uniqueRepo("expose");
    const img = pushImage(repo, [new TarWriter().file("marker", "x").end()], { config: { config: { Cmd: ["true"], ExposedPorts: { "80/tcp": {}, "53/udp": {} } } } });
    await b.ok(["pull", "-q", "--tls-verify=false", img.ref]);
    // (port lists a running container's ports only, as Podman's: these are created, inspect shows them)
    const bindings = async (name: string) => JSON.parse(await b.ok(["inspect", name]))[0].HostConfig.PortBindings as Record<string, { HostIp: string; HostPort: string }[]>;
    await b.ok(["create", "--name", "pall", "-P", img.ref]);
    expect(await b.ok(["port", "pall"])).toBe("");
    const all = await bindings("pall");
    expect(Object.keys(all).sort()).toEqual(["53/udp", "80/tcp"]);
    for (const v of Object.values(all)) expect(v).toEqual([{ HostIp: "", HostPort: expect.stringMatching(/^\d+$/) }]);
    // --expose adds to the image's list: -P publishes it too (a range gives each port)
    await b.ok(["create", "--name", "pexp", "-P", "--expose", "9000-9001", "--expose", "5000/udp", img.ref]);
    expect(Object.keys(await bindings("pexp")).sort()).toEqual(["5000/udp", "53/udp", "80/tcp", "9000/tcp", "9001/tcp"]);
    expect((await b.run(["create", "--expose", "http", img.ref])).code).toBe(125);
    await b.ok(["rm", "pexp"]);
    // a container range without host ports gets consecutive ones, shown as one range (as Podman)
    await b.ok(["create", "--name", "prng", "-p", "9100-9102", img.ref]);
    const rb = await bindings("prng");
    const hp = ["9100/tcp", "9101/tcp", "9102/tcp"].map((k) => Number(rb[k]![0]!.HostPort));
    expect([hp[1]! - hp[0]!, hp[2]! - hp[0]!]).toEqual([1, 2]);
    expect(await b.ok(["ps", "-a", "--filter", "name=prng", "--format", "{{.Ports}}"])).toBe(`0.0.0.0:${hp[0]}-${hp[2]}->9100-9102/tcp\n`);
    await b.ok(["rm", "prng"]);
    await b.ok(["create", "--name", "p80", "-p", "127.0.0.1::80", img.ref]);
    expect(await bindings("p80")).toEqual({ "80/tcp": [{ HostIp: "127.0.0.1", HostPort: expect.stringMatching(/^\d+$/) }] });
    await b.ok(["rm", "pall", "p80"]);
    for (const bad of ["80:80:80:80", "x:80", "8000-8002:80-81", "70000:80", "80/sctp", "999.1.1.1:80:80"]) {
      const r = await b.run(["create", "-p", bad, BB, "true"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/^Error: invalid port/);
    }
    expect((await b.run(["create", "--network", "none", "-p", "80", BB, "true"])).code).toBe(125);
    expect((await b.run(["create", "--network", "bogus", BB, "true"])).stderr).toMatch(/unknown network mode "bogus"/);
  });

  test.each(["pasta", "slirp4netns"])("UDP (%s): -p H:C/udp reaches a UDP server in the container and its answers come back", async (net) => {
    const port = await freePort();
    const name = `udp-${net}`;
    const id = (await b.ok(["run", "-d", "--name", name, "--network", net, "-p", `${port}:53/udp`, "-v", `${udpDir}:/udp:ro`, BB, "/udp/udpecho", "53"])).trim();
    await waitLog(b, name, /listening/);
    // two clients on the host's loopback: each gets its own answers
    const socks = [createSocket("udp4"), createSocket("udp4")];
    const got: string[][] = [[], []];
    socks.forEach((s, i) => s.on("message", (m) => got[i]!.push(m.toString())));
    try {
      for (let i = 0; i < 50 && got.some((g) => !g.length); i++) {
        socks.forEach((s, k) => s.send(`hello-${k}`, port, "127.0.0.1"));
        await Bun.sleep(100);
      }
      expect(got.map((g) => g[0])).toEqual(["hello-0", "hello-1"]);
      // the datagrams arrive from the container's loopback (as with Podman's forwarder)
      expect((await b.run(["logs", name])).stdout).toMatch(/^got hello-0 from 127\.0\.0\.1$/m);
    } finally {
      socks.forEach((s) => s.close());
    }
    expect(await b.ok(["port", name])).toBe(`53/udp -> 0.0.0.0:${port}\n`);
    await b.ok(["rm", "-f", name]);
    expect(helperProcs(id)).toEqual([]);
    expect(await canBindUdp(port)).toBe(true);
  });

  test("UDP: a range of 1000 ports (a media range) is published, and a server on one of them answers", async () => {
    // consecutive free host ports for the range, then the range published on them
    const probe = (await b.ok(["create", "-p", "40000-40999/udp", BB, "true"])).trim();
    const base = Number(JSON.parse(await b.ok(["inspect", probe]))[0].HostConfig.PortBindings["40000/udp"][0].HostPort);
    await b.ok(["rm", probe]);
    const name = "udp-range";
    await b.ok(["run", "-d", "--name", name, "-p", `${base}-${base + 999}:40000-40999/udp`, "-v", `${udpDir}:/udp:ro`, BB, "/udp/udpecho", "40500"]);
    await waitLog(b, name, /listening/);
    const sock = createSocket("udp4");
    const got: string[] = [];
    sock.on("message", (m) => got.push(m.toString()));
    try {
      for (let i = 0; i < 50 && !got.length; i++) {
        sock.send("in-range", base + 500, "127.0.0.1");
        await Bun.sleep(100);
      }
      expect(got[0]).toBe("in-range");
    } finally {
      sock.close();
    }
    await b.ok(["rm", "-f", name]);
    expect(await canBindUdp(base + 999)).toBe(true);
  });

  test("pods: members talk by name, the pod's port reaches a member, pod stop/start/rm leave nothing", async () => {
    const port = await freePort();
    const www = wwwDir(b);
    const podId = (await b.ok(["pod", "create", "--name", "pd", "-p", `${port}:80`])).trim();
    expect(podId).toMatch(/^[0-9a-f]{64}$/);
    await b.ok(["run", "-d", "--pod", "pd", "--name", "srv", "-v", `${www}:/www:ro`, BB, "httpd", "-f", "-p", "80", "-h", "/www"]);
    await b.ok(["run", "-d", "--pod", "pd", "--name", "echo1", BB, "sh", "-c", "while true; do nc -l -p 7000 -e echo from-echo1; done"]);
    // by name, from a third member
    const out = await b.ok(["run", "--rm", "--pod", "pd", "--name", "client", BB, "sh", "-c",
      "for i in $(seq 50); do wget -qO- http://srv/ && break; sleep 0.1; done; for i in $(seq 50); do nc echo1 7000 </dev/null && break; sleep 0.1; done; grep -c '' /etc/hosts; grep -w srv /etc/hosts"]);
    expect(out).toContain("hello from httpd\n");
    expect(out).toContain("from-echo1\n");
    expect(out).toMatch(/^127\.0\.0\.1\tsrv$/m);
    // the pod's published port by the pod's own name, from a member (the pod's address: nothing listens there in the namespace)
    expect(await b.ok(["exec", "echo1", "wget", "-qO-", "http://pd/"])).toBe("hello from httpd\n");
    // members have the pod's host name (its name by default); their own is refused
    expect(await b.ok(["exec", "srv", "hostname"])).toBe("pd\n");
    const hn = await b.run(["run", "--rm", "--pod", "pd", "--hostname", "x", BB, "true"]);
    expect([hn.code, hn.stderr]).toEqual([125, expect.stringMatching(/^Error: cannot set hostname when joining the pod UTS namespace/)]);
    // the client left the pod's hosts file when it was removed
    expect(await b.ok(["exec", "srv", "cat", "/etc/hosts"])).not.toMatch(/\bclient\b/);
    // a renamed member is reached by its new name only
    await b.ok(["rename", "echo1", "echo2"]);
    const hosts = await b.ok(["exec", "srv", "cat", "/etc/hosts"]);
    expect(hosts).toMatch(/^127\.0\.0\.1\techo2$/m);
    expect(hosts).not.toMatch(/\becho1\b/);
    expect(await b.ok(["exec", "srv", "sh", "-c", "nc echo2 7000 </dev/null"])).toBe("from-echo1\n");
    expect(await fetchText(`http://127.0.0.1:${port}/`)).toBe("hello from httpd\n");
    expect(await b.ok(["port", "srv"])).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
    expect(JSON.parse(await b.ok(["inspect", "srv"]))[0].NetworkSettings.Ports).toEqual({ "80/tcp": [{ HostIp: "", HostPort: String(port) }] });
    expect((await b.ok(["pod", "ps", "--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}}"])).trim()).toBe("pd Running 3");
    // one member stopped, the rest running: Degraded, as Podman says
    await b.ok(["stop", "-t", "0", "echo2"]);
    expect((await b.ok(["pod", "ps", "--format", "{{.Status}}"])).trim()).toBe("Degraded");
    await b.ok(["start", "echo2"]);
    // members show the pod's published ports in ps, as with Podman
    expect((await b.ok(["ps", "--filter", "name=srv", "--format", "{{.Ports}}"])).trim()).toBe(`0.0.0.0:${port}->80/tcp`);
    const infra = JSON.parse(await b.ok(["pod", "inspect", "pd"])).InfraContainerID;
    expect(helperProcs(infra).length).toBe(1);
    // the infra has no image: its root is an empty tmpfs, not the host's tree, so an
    // exec into it finds nothing to run (127, as with Podman's pause image)
    const exInfra = await b.run(["exec", infra, "ls", "/"]);
    expect([exInfra.code, exInfra.stdout]).toEqual([127, ""]);
    const infraPid = JSON.parse(await b.ok(["inspect", infra]))[0].State.Pid;
    expect(readdirSync(`/proc/${infraPid}/root`)).toEqual([]);
    // containers of a pod publish nothing themselves and use the pod's network
    expect((await b.run(["run", "--rm", "--pod", "pd", "-p", "81:81", BB, "true"])).code).toBe(125);
    expect((await b.run(["run", "--rm", "--pod", "pd", "--network", "none", BB, "true"])).code).toBe(125);
    // the infra goes only with its pod: not by rm -f, rm -a or container prune
    expect((await b.run(["rm", "-f", infra])).stderr).toMatch(/infra container of pod/);
    expect((await b.ok(["pod", "ps", "--format", "{{.Status}}"])).trim()).toBe("Running"); // refused, and not killed either
    // pods and containers share one name space (as in Podman)
    let clash = await b.run(["pod", "create", "--name", "srv"]);
    expect([clash.code, clash.stderr]).toEqual([125, expect.stringMatching(/^Error: the name "srv" is already in use by container [0-9a-f]{12}/)]);
    clash = await b.run(["create", "--name", "pd", BB, "true"]);
    expect([clash.code, clash.stderr]).toEqual([125, expect.stringMatching(/^Error: the name "pd" is already in use by pod [0-9a-f]{12}/)]);
    await b.ok(["pod", "create", "--name", "idle"]);
    const idleInfra = JSON.parse(await b.ok(["pod", "inspect", "idle"])).InfraContainerID;
    const rmInfra = await b.run(["rm", "-f", idleInfra]);
    expect([rmInfra.code, rmInfra.stderr]).toEqual([125, expect.stringMatching(/^Error: .* is the infra container of pod [0-9a-f]{12} and cannot be removed without removing the pod/)]);
    expect(await b.ok(["container", "prune", "-f"])).not.toContain(idleInfra);
    expect((await b.run(["pod", "exists", "idle"])).code).toBe(0);
    expect((await b.run(["container", "exists", idleInfra])).code).toBe(0);
    await b.ok(["pod", "rm", "idle"]);
    expect((await b.run(["container", "exists", idleInfra])).code).toBe(1);

    await b.ok(["pod", "stop", "-t", "0", "pd"]);
    expect((await b.ok(["pod", "ps", "--format", "{{.Status}}"])).trim()).toBe("Exited");
    expect(helperProcs(infra)).toEqual([]);
    expect(await canBind(port)).toBe(true);
    await b.ok(["pod", "start", "pd"]);
    expect(await fetchText(`http://127.0.0.1:${port}/`)).toBe("hello from httpd\n");
    // pod restart: stopped and started again, serving again; pod kill: every container gets the signal
    await b.ok(["pod", "restart", "-t", "0", "pd"]);
    expect((await b.ok(["pod", "ps", "--format", "{{.Status}}"])).trim()).toBe("Running");
    expect(await fetchText(`http://127.0.0.1:${port}/`)).toBe("hello from httpd\n");
    await b.ok(["pod", "kill", "pd"]);
    for (let i = 0; i < 50 && (await b.ok(["pod", "ps", "--format", "{{.Status}}"])).trim() !== "Exited"; i++) await Bun.sleep(100);
    expect((await b.ok(["pod", "ps", "--format", "{{.Status}}"])).trim()).toBe("Exited");
    expect((await b.run(["pod", "kill", "pd"])).code).toBe(0); // nothing running: nothing to do (Podman)
    expect((await b.run(["pod", "restart", "pd", "nosuchpod"])).code).toBe(125); // one not there: nothing done
    expect((await b.ok(["pod", "ps", "--format", "{{.Status}}"])).trim()).toBe("Exited");
    await b.ok(["pod", "start", "pd"]);
    expect((await b.run(["pod", "rm", "pd"])).code).toBe(125); // running
    // -t needs -f (as Podman); -f -t N stops the members as pod stop -t N does: a TERM handler runs
    const rmt = await b.run(["pod", "rm", "-t", "5", "pd"]);
    expect([rmt.code, rmt.stderr]).toEqual([125, "Error: --force option must be specified to use the --time option\n"]);
    const outDir = mkdtempSync("/tmp/tspod-podrm-");
    chownSync(outDir, b.uid, b.gid);
    try {
      await b.ok(["run", "-d", "--pod", "pd", "--name", "trap", "-v", `${outDir}:/out`, BB, "sh", "-c", "trap 'echo got TERM > /out/t; exit 0' TERM; while true; do sleep 0.1; done"]);
      await Bun.sleep(300);
      await b.ok(["pod", "rm", "-f", "-t", "5", "pd"]);
      expect(readFileSync(join(outDir, "t"), "utf8")).toBe("got TERM\n");
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
    expect(await b.ok(["ps", "-a", "--format", "{{.Names}} {{.State}}"])).toBe("");
    expect((await b.ok(["pod", "ps", "-q"])).trim()).toBe("");
    expect((await b.run(["pod", "exists", "pd"])).code).toBe(1);
    expect(helperProcs(infra)).toEqual([]);
    expect(await canBind(port)).toBe(true);
  });

  test("container:NAME shares a running container's network; slirp4netns with a published port", async () => {
    const port = await freePort();
    const www = wwwDir(b);
    const id = (await b.ok(["run", "-d", "--network", "slirp4netns", "--name", "sweb", "-p", `${port}:80`, "-v", `${www}:/www:ro`, BB, "httpd", "-f", "-p", "80", "-h", "/www"])).trim();
    expect(await fetchText(`http://127.0.0.1:${port}/`)).toBe("hello from httpd\n");
    // slirp4netns: loopback clients arrive from its gateway, 10.0.2.2
    expect(await fetchText(`http://127.0.0.1:${port}/cgi-bin/ip`)).toMatch(/^remote=(\[::ffff:)?10\.0\.2\.2\]?\n$/);
    expect(helperProcs(id).length).toBe(1);
    const api = join(b.runroot, "sock", `${id.slice(0, 12)}-net`);
    expect(existsSync(api)).toBe(true); // slirp4netns's API socket, while it runs
    const out = await b.ok(["run", "--rm", "--network", "container:sweb", BB, "sh", "-c", "wget -qO- http://127.0.0.1/; cat /etc/resolv.conf; ip -o -4 addr show tap0"]);
    expect(out).toContain("hello from httpd\n");
    expect(out).toContain("nameserver 10.0.2.3");
    expect(out).toContain("10.0.2.100/24");
    // the container whose network is shared must run, and stays while others use it
    await b.ok(["create", "--name", "side", "--network", "container:sweb", BB, "true"]);
    // its ports are the joined container's, in ps as in port (as Podman shows them)
    expect(await b.ok(["ps", "-a", "--filter", "name=side", "--format", "{{.Ports}}"])).toBe(`0.0.0.0:${port}->80/tcp\n`);
    // rm: running comes first (exit 2, as Podman); with -f, its dependents keep it (exit 125), running
    const rmRunning = await b.run(["rm", "sweb"]);
    expect([rmRunning.code, rmRunning.stderr]).toEqual([2, expect.stringMatching(/running/)]);
    const rmForced = await b.run(["rm", "-f", "sweb"]);
    expect([rmForced.code, rmForced.stderr]).toEqual([125, expect.stringMatching(/dependent containers/)]);
    expect((await b.ok(["inspect", "--format", "{{.State.Status}}", "sweb"])).trim()).toBe("running");
    await b.ok(["stop", "-t", "0", "sweb"]);
    const r = await b.run(["start", "side"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/not running/);
    await b.ok(["rm", "side"]);
    expect(existsSync(api)).toBe(false); // stopped: its helper's API socket is gone
    await b.ok(["rm", "-f", "sweb"]);
    expect(helperProcs(id)).toEqual([]);
    expect(await canBind(port)).toBe(true);
    expect(existsSync(api)).toBe(false);
    // slirp4netns forwards IPv4 only: an IPv6 host address is refused before anything starts
    const v6 = await b.run(["run", "--rm", "--network", "slirp4netns", "-p", `[::1]:${port}:80`, BB, "true"]);
    expect([v6.code, v6.stderr]).toEqual([125, `Error: cannot publish port [::1]:${port}/tcp: slirp4netns forwards IPv4 host addresses only (use --network pasta)\n`]);
  });

  test("the helper dies with a killed monitor (pasta and slirp4netns) and frees its port; none and host keep working", async () => {
    for (const net of ["pasta", "slirp4netns"]) {
      const port = await freePort();
      // ip's socket starts pasta (at the container's first socket, native/lend.c)
      const id = (await b.ok(["run", "-d", "--name", "orphan", "--network", net, "-p", `${port}:80`, BB, "sh", "-c", "ip link >/dev/null && echo up; exec sleep 60"])).trim();
      await waitLog(b, "orphan", /^up$/m);
      expect(helperProcs(id).length).toBe(1);
      expect(await canBind(port)).toBe(false);
      const monitor = JSON.parse(await b.ok(["inspect", "orphan"]))[0].State.ConmonPid;
      process.kill(monitor, "SIGKILL");
      // (a killed process shows an empty cmdline a moment before its sockets close)
      let free = false;
      for (let i = 0; i < 40 && (helperProcs(id).length || !(free = await canBind(port))); i++) await Bun.sleep(50);
      expect([net, helperProcs(id), free]).toEqual([net, [], true]);
      if (net === "pasta") {
        // its published port was lent (pasta is the default): no exec without the monitor
        const r = await b.run(["exec", "orphan", "true"]);
        expect([r.code, r.stderr]).toEqual([125, "Error: the container's monitor is gone, and its published ports need it: stop the container and start it again\n"]);
      }
      await b.ok(["rm", "-f", "orphan"]);
    }

    expect(await b.ok(["run", "--rm", "--network", "none", BB, "sh", "-c", "ip -o link | wc -l; grep -c host.containers /etc/hosts || true"])).toBe("1\n0\n");
    const host = await b.ok(["run", "--rm", "--network", "host", BB, "sh", "-c", "ip -o link | wc -l"]);
    expect(Number(host)).toBeGreaterThan(1);
  });
});

describe("published ports below the unprivileged start (rootless)", () => {
  const b = box("rootless");
  beforeAll(async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
  });
  test("a host port the user may not bind: one line that says why and what to do (tcp, udp, slirp4netns)", async () => {
    const start = Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8"));
    expect(start).toBeGreaterThan(1); // this test's machine keeps low ports privileged (Debian's default, 1024)
    const port = start - 1;
    const why = `ports below ${start} need privileges (net.ipv4.ip_unprivileged_port_start is ${start}): use a host port >= ${start}, or lower that setting`;
    for (const [args, what] of [[["-p", `${port}:80`], `0.0.0.0:${port}/tcp`], [["-p", `${port}:80/udp`], `0.0.0.0:${port}/udp`], [["--network", "slirp4netns", "-p", `${port}:80`], `0.0.0.0:${port}/tcp`]] as const) {
      const r = await b.run(["run", "--rm", ...args, BB, "true"]);
      expect([args, r.code, r.stderr]).toEqual([args, 125, `Error: cannot publish port ${what}: ${why}\n`]);
    }
  });
});
