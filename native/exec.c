/*
 * `tspod-rt exec --spec SPEC --pid PID [--tty] [--detach] [--privileged] [--cwd D] [--uid N]
 *  [--gid N] [--env K=V]... [--monitor-sock PATH] -- ARG...`: run a process inside a running
 * container: join its namespaces (user first, for the capabilities to join the
 * rest), fork into its pid namespace, take the spec's capabilities and the
 * requested user, exec. With --tty a fresh pty is used and proxied (the
 * container never gets the caller's terminal, so it cannot push keystrokes
 * into it). --errfd N: where start errors go (default stderr), so a caller
 * can tell them from the process's own stderr. Exit code: the process's, or 125/126/127 when it could not start.
 * --monitor-sock: the container's monitor, which serves the binds of its
 * published TCP ports (lend.c) when the spec has net.lend records, and starts
 * its network at the first socket with net.lazy: the process gets the
 * container's filter and hands its fd over.
 */
#include "common.h"
#include "lend.h"
#include "sealed.h"
#include "spec.h"
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

static volatile sig_atomic_t g_winch = 1;
static void on_winch(int sig) {
  (void)sig;
  g_winch = 1;
}

/* The caller's terminal size onto the pty: stdin without -i is not that terminal, stdout or stderr may be. */
static void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) == 0 || ioctl(1, TIOCGWINSZ, &ws) == 0 || ioctl(2, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

static int join_ns(pid_t pid, const char *name, int type) {
  char p[64], mine[64], a[128] = "", b[128] = "";
  snprintf(p, sizeof p, "/proc/%d/ns/%s", (int)pid, name);
  snprintf(mine, sizeof mine, "/proc/self/ns/%s", name);
  ssize_t n = readlink(p, a, sizeof a - 1), m = readlink(mine, b, sizeof b - 1);
  if (n < 0) return -1;
  a[n] = 0;
  if (m > 0) b[m] = 0;
  if (!strcmp(a, b)) return 0; /* already there (e.g. --network host) */
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = setns(fd, type);
  close(fd);
  return r;
}

/* The process could not be set up or exec'd in the container: as run (and Podman
   of its runtime's errors), 127 for a file not found, else 126 (cannot invoke). */
static int exit_code_for(int e) { return e == ENOENT ? 127 : 126; }

int cmd_exec(int argc, char **argv) {
  const char *specpath = NULL, *cwd = NULL, *monsock = NULL;
  pid_t target = 0;
  int tty = 0, detach = 0, privileged = 0, have_uid = 0, have_gid = 0, errfd = 2;
  uid_t uid = 0;
  gid_t gid = 0;
  static char *env[SPEC_MAX_LIST + 1];
  int nenv = 0, i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    } else if (!strcmp(a, "--spec") && i + 1 < argc) specpath = argv[++i];
    else if (!strcmp(a, "--pid") && i + 1 < argc) target = atoi(argv[++i]);
    else if (!strcmp(a, "--cwd") && i + 1 < argc) cwd = argv[++i];
    else if (!strcmp(a, "--uid") && i + 1 < argc) uid = (uid_t)strtoul(argv[++i], NULL, 10), have_uid = 1;
    else if (!strcmp(a, "--gid") && i + 1 < argc) gid = (gid_t)strtoul(argv[++i], NULL, 10), have_gid = 1;
    else if (!strcmp(a, "--env") && i + 1 < argc && nenv < SPEC_MAX_LIST) env[nenv++] = argv[++i];
    else if (!strcmp(a, "--errfd") && i + 1 < argc) errfd = atoi(argv[++i]);
    else if (!strcmp(a, "--monitor-sock") && i + 1 < argc) monsock = argv[++i];
    else if (!strcmp(a, "--tty")) tty = 1;
    else if (!strcmp(a, "--detach")) detach = 1;
    else if (!strcmp(a, "--privileged")) privileged = 1;
    else die(125, "exec: unknown option %s", a);
  }
  if (!specpath || target <= 0 || i >= argc) die(125, "usage: tspod-rt exec --spec SPEC --pid PID [options] -- ARG...");
  ensure_sealed_self(argv - 1);
  /* the caller's error channel never reaches the process in the container */
  if (errfd > 2) fcntl(errfd, F_SETFD, FD_CLOEXEC);
  static struct spec s;
  if (spec_load(specpath, &s) < 0) return 125;
  s.all_caps = privileged;
  if (have_uid) s.uid = uid, s.ngroups = 0;
  if (have_gid) s.gid = gid;
  else if (have_uid) s.gid = 0;
  if (nenv) {
    env[nenv] = NULL;
    memcpy(s.env, env, sizeof(char *) * (size_t)(nenv + 1));
  }
  char **args = argv + i;

  /* Published TCP ports served without a forwarder (lend.c): the process gets the
     container's Landlock domain and filter, whose fd goes to the monitor, on a
     connection made now, while its socket path is still in reach. No monitor, no
     exec: a process without them could take a lent socket from another (pidfd_getfd)
     and use it as it likes. */
  int mon = -1, lending = lend_what(&s);
  /* a network started at the first socket, up already (the monitor's mark beside
     the spec): nothing to wait for, no filter (nor its cost per socket) */
  if (lending == LEND_NET) {
    char up[4096];
    const char *slash = strrchr(specpath, '/');
    int n = slash ? snprintf(up, sizeof up, "%.*s/net.up", (int)(slash - specpath), specpath) : snprintf(up, sizeof up, "net.up");
    if (n > 0 && (size_t)n < sizeof up && access(up, F_OK) == 0) lending = 0;
  }
  if (lending) {
    struct sockaddr_un sa;
    int dfd = -1;
    if (monsock && unix_address(monsock, &sa, &dfd) == 0) {
      mon = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (mon >= 0 && connect(mon, (struct sockaddr *)&sa, sizeof sa) < 0) close(mon), mon = -1;
      if (dfd >= 0) close(dfd);
    }
    if (mon < 0) {
      dprintf(errfd, "tspod-rt: exec: the container's monitor is gone, and its %s: stop the container and start it again\n",
              lending & LEND_TCP ? "published ports need it" : "network (started at its first socket) needs it");
      return 125;
    }
  }
  int master = -1, slave = -1;
  /* --detach: the caller returns once the process has started (exit 0) or
     failed to (its error on errfd, 125/126/127 as usual); the process goes on in
     its own session with stdio on /dev/null, reaped by the helper that started
     it, which leaves with it. */
  int result_w = -1;
  if (detach) {
    int rp[2];
    if (pipe2(rp, O_CLOEXEC) < 0) die(125, "exec: pipe");
    pid_t p = fork();
    if (p < 0) die(125, "exec: fork");
    if (p > 0) {
      close(rp[1]);
      int code = 125;
      ssize_t n;
      do n = read(rp[0], &code, sizeof code);
      while (n < 0 && errno == EINTR);
      while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {}
      return n == (ssize_t)sizeof code ? code : 125;
    }
    close(rp[0]);
    result_w = rp[1];
    setsid();
    int dn = open("/dev/null", O_RDWR);
    dup2(dn, 0), dup2(dn, 1);
    if (errfd != 2) dup2(dn, 2);
    if (fork() > 0) _exit(0);
  }
  /* Join the namespaces: user first (rootless) so the others may be joined. */
  if (join_ns(target, "user", CLONE_NEWUSER) < 0) die(125, "exec: join user namespace of %d", (int)target);
  const struct {
    const char *name;
    int type;
  } nss[] = {{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
  for (size_t k = 0; k < sizeof nss / sizeof nss[0]; k++)
    if (join_ns(target, nss[k].name, nss[k].type) < 0) die(125, "exec: join %s namespace of %d", nss[k].name, (int)target);
  if (tty) {
    /* The pty comes from the container's own /dev/pts (we are in its mount
       namespace, at its root): its name is one the process can look up there
       (tty, ttyname()), as with Podman. A host pty would be /dev/pts/N of a
       devpts the container does not have. */
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) die(125, "exec: allocate a pty in the container");
    slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) die(125, "exec: open pty %s", ptsname(master));
    /* the process's own terminal, as the container's (container.c make_console;
       as crun does since 1.21); a refusal leaves it root's, still usable */
    if (s.uid) (void)fchown(slave, s.uid, (gid_t)-1);
    copy_winsize(master); /* before the process starts: it may ask at once (stty size) */
  }
  int errp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) die(125, "exec: pipe");
  pid_t child = fork();
  if (child < 0) die(125, "exec: fork into the container");
  if (child == 0) {
    close(errp[0]);
    g_errfd = errp[1];
    setsid();
    if (tty) {
      dup2(slave, 0), dup2(slave, 1), dup2(slave, 2);
      if (ioctl(0, TIOCSCTTY, 0) < 0) ctr_fail("controlling terminal");
    }
    extern char **environ;
    environ = s.env;
    const char *dir = cwd ? cwd : s.cwd;
    if (chdir(dir) < 0) ctr_fail("chdir %s", dir);
    if (keys_confine(s.seccomp_unconfined) < 0) ctr_fail("seccomp filter for the keyrings");
    if (mon >= 0) {
      int nfd = lend_install(lending);
      static const char frame[5] = {'n', 0, 0, 0, 0};
      if (nfd < 0) ctr_fail("seccomp filter for the network");
      if (lend_send_fd(mon, frame, sizeof frame, nfd) < 0) {
        if (errno == EPIPE || errno == ECONNRESET) /* (it took the connection and closed it) */
          ctr_fail("hand the network's filter to the container's monitor: it serves %d clients at once, all taken (attach sessions?)", 16);
        ctr_fail("hand the network's filter to the monitor");
      }
      close(nfd);
      close(mon);
    }
    ctr_set_creds(&s);
    if (s.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) ctr_fail("no_new_privs");
    execvp(args[0], args);
    ctr_fail("exec %s", args[0]);
  }
  close(errp[1]);
  if (slave >= 0) close(slave);
  if (mon >= 0) close(mon);
  char msg[1024] = "";
  int e = ctr_read_start_error(errp[0], msg, sizeof msg);
  if (e) {
    waitpid(child, NULL, 0);
    dprintf(errfd, "tspod-rt: %s\n", msg);
    int code = exit_code_for(e);
    if (result_w >= 0) write_all(result_w, &code, sizeof code);
    return code;
  }
  if (result_w >= 0) {
    /* started: the caller may go (the error channel first, so it sees EOF) */
    if (errfd > 2) close(errfd);
    int zero = 0;
    write_all(result_w, &zero, sizeof zero);
    close(result_w);
  }
  if (tty) {
    /* proxy between our stdio and the pty; keep the window size in step */
    signal(SIGWINCH, on_winch);
    signal(SIGPIPE, SIG_IGN);
    int in_open = 1;
    char buf[16384];
    for (;;) {
      if (g_winch) {
        g_winch = 0;
        copy_winsize(master);
      }
      struct pollfd p[2] = {{master, POLLIN, 0}, {0, in_open ? POLLIN : 0, 0}};
      int r = poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) break;
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(master, buf, sizeof buf);
        if (n <= 0) break; /* EIO: the last process closed the slave */
        if (write_all(1, buf, (size_t)n) < 0) break;
      }
      if (in_open && (p[1].revents & (POLLIN | POLLHUP))) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n <= 0) in_open = 0;
        else write_all(master, buf, (size_t)n);
      }
    }
  }
  int st;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return 128 + WTERMSIG(st);
}
