/*
 * User-namespace id maps. A full map goes through the setuid newuidmap /
 * newgidmap (uidmap package) with the user's /etc/subuid range; a single-id
 * map (0 -> own id) is written directly.
 * SPEC is "ctr:host:count[,ctr:host:count...]".
 */
#include "common.h"
#include "idmap.h"
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int write_single_maps(pid_t pid, uid_t uid, gid_t gid) {
  char path[64], map[64];
  int r;
  snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
  if ((r = write_file(path, "deny")) < 0 && r != -ENOENT) return r;
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
  if ((r = write_file(path, map)) < 0) return r;
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
  return write_file(path, map);
}

struct tool_run {
  pid_t pid;
  int errfd;
};

/* Starts `tool PID a b c ...` with its stderr on a pipe. */
static int start_tool(const char *tool, pid_t pid, const char *spec, struct tool_run *t) {
  char *args[3 + 3 * 64 + 1];
  char pidbuf[16], copy[4096];
  int n = 0;
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
  snprintf(copy, sizeof copy, "%s", spec);
  args[n++] = (char *)tool;
  args[n++] = pidbuf;
  for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && n < 3 * 64; tok = strtok_r(NULL, ",", &save)) {
    for (char *save2 = NULL, *f = strtok_r(tok, ":", &save2); f; f = strtok_r(NULL, ":", &save2)) args[n++] = f;
  }
  args[n] = NULL;
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) return -1;
  pid_t c = fork();
  if (c < 0) {
    close(ep[0]), close(ep[1]);
    return -1;
  }
  if (c == 0) {
    dup2(ep[1], 2);
    execvp(tool, args);
    dprintf(2, "%s: %s", tool, strerror(errno));
    _exit(127);
  }
  close(ep[1]);
  t->pid = c;
  t->errfd = ep[0];
  return 0;
}

/* Waits for a started tool: 0 on success, else -1 with its stderr in err. */
static int finish_tool(struct tool_run *t, char *err, size_t errlen) {
  size_t got = 0;
  if (err && errlen) err[0] = 0;
  for (;;) {
    char tmp[512];
    ssize_t r = read(t->errfd, tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (err && got + 1 < errlen) {
      size_t k = (size_t)r < errlen - 1 - got ? (size_t)r : errlen - 1 - got;
      memcpy(err + got, tmp, k);
      got += k;
      err[got] = 0;
    }
  }
  close(t->errfd);
  int st;
  while (waitpid(t->pid, &st, 0) < 0 && errno == EINTR) {}
  if (err) {
    size_t l = strlen(err);
    while (l && (err[l - 1] == '\n' || err[l - 1] == ' ')) err[--l] = 0;
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/*
 * Maps a process's user namespace with newuidmap and newgidmap run side by
 * side (each is a setuid program start, a few ms: together, not one after
 * the other). 0 on success, else -1 with the failing tool's stderr in err.
 */
int map_ids(pid_t pid, const char *uidmap, const char *gidmap, char *err, size_t errlen) {
  struct tool_run u, g;
  if (start_tool("newuidmap", pid, uidmap, &u) < 0) {
    if (err) snprintf(err, errlen, "newuidmap: %s", strerror(errno));
    return -1;
  }
  if (start_tool("newgidmap", pid, gidmap, &g) < 0) {
    if (err) snprintf(err, errlen, "newgidmap: %s", strerror(errno));
    finish_tool(&u, NULL, 0);
    return -1;
  }
  char gerr[512];
  int ru = finish_tool(&u, err, errlen);
  int rg = finish_tool(&g, gerr, sizeof gerr);
  if (ru == 0 && rg < 0 && err) snprintf(err, errlen, "%s", gerr);
  return ru < 0 || rg < 0 ? -1 : 0;
}

/* ---------- the kept user namespace ---------- */

/*
 * Rootless, every helper that works on the store needs a user namespace with
 * the user's subuid map, and making one costs a fork and two setuid programs:
 * ~9 ms on an idle machine, ~25 ms while a pull keeps both cores busy. As
 * Podman keeps its pause process, the first helper that needs the namespace
 * leaves a small process behind that holds one, the keeper, and records its
 * pid in a file under the runroot (--keep-userns FILE); later helpers join it
 * with setns(2) in well under a millisecond.
 *
 * The keeper lives while that file names it: it watches the file (inotify)
 * and exits when it is removed or replaced (the runroot removed, /run emptied
 * at boot, a keeper for another map put in its place). It holds no file but
 * its watch, sits in / and in a session of its own, and does nothing else.
 *
 * A joiner checks the keeper's uid_map and gid_map against the map it was
 * given before it joins (a pid that is gone, reused, or names a namespace
 * with another map is not joined), so what it writes gets the same owners as
 * in a namespace of its own. A keeper is made under a lock (FILE.lock), so
 * two helpers starting at once make one.
 */

/* "ctr:host:count,..." and a /proc/PID/[ug]id_map say the same. */
static int same_map(const char *spec, const char *procfile) {
  char text[4096];
  if (read_text(procfile, text, sizeof text) < 0) return 0;
  const char *p = spec, *q = text;
  for (;;) {
    unsigned long a, b, c, x, y, z;
    int used = 0;
    if (*p == 0) {
      while (*q == ' ' || *q == '\n') q++;
      return *q == 0;
    }
    if (sscanf(p, "%lu:%lu:%lu%n", &a, &b, &c, &used) != 3) return 0;
    p += used;
    if (*p == ',') p++;
    if (sscanf(q, "%lu %lu %lu%n", &x, &y, &z, &used) != 3) return 0;
    q += used;
    if (a != x || b != y || c != z) return 0;
  }
}

/* A process that has not exited (a zombie's namespace outlives its watch). */
static int running(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (read_text(path, buf, sizeof buf) < 0) return 0;
  const char *p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X' && p[2] != 0;
}

/* Join the user namespace of the process pid when its maps are these: 0, else -1. */
static int join_userns_of(pid_t pid, const char *uidmap, const char *gidmap) {
  char ns[64], um[64], gm[64];
  if (!running(pid)) return -1;
  snprintf(ns, sizeof ns, "/proc/%d/ns/user", (int)pid);
  snprintf(um, sizeof um, "/proc/%d/uid_map", (int)pid);
  snprintf(gm, sizeof gm, "/proc/%d/gid_map", (int)pid);
  int fd = open(ns, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat a, b;
  /* the maps read are the namespace's that fd holds: the same inode after reading them */
  int ok = same_map(uidmap, um) && same_map(gidmap, gm) && fstat(fd, &a) == 0 && stat(ns, &b) == 0 &&
           a.st_ino == b.st_ino && a.st_dev == b.st_dev && setns(fd, CLONE_NEWUSER) == 0;
  close(fd);
  return ok ? 0 : -1;
}

/* The pid a keep file names: a regular file (not followed if a symlink, never a FIFO that
   would block) holding a pid and a newline; -1 for anything else. */
static pid_t read_keepfile(const char *file) {
  char buf[32];
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st;
  ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, buf, sizeof buf - 1) : -1;
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *end;
  long v = strtol(buf, &end, 10);
  return v > 0 && v <= INT_MAX && (*end == '\n' || *end == 0) ? (pid_t)v : -1;
}

/* The keeper, once its namespace is mapped and recorded: wait until file no longer names it
   (removed, renamed, replaced, or written over in place). */
__attribute__((noreturn)) static void keeper_wait(const char *file) {
  int in = inotify_init1(IN_CLOEXEC);
  if (in < 0) _exit(0);
  for (;;) {
    if (inotify_add_watch(in, file, IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF) < 0) _exit(0);
    if (read_keepfile(file) != getpid()) _exit(0); /* checked after the watch: nothing missed */
    char ev[4096];
    while (read(in, ev, sizeof ev) < 0 && errno == EINTR) {}
  }
}

/* The keeper's life once recorded: named as ps shows it, in /, waiting. */
__attribute__((noreturn)) static void keeper_main(const char *file) {
  prctl(PR_SET_NAME, "tspod-userns");
  if (chdir("/") < 0) _exit(1);
  keeper_wait(file);
}

/* `tspod-rt userns-keeper FILE`: what a keeper execs once it is recorded (a clean
   command line and environment); it waits as long as FILE names it. */
int cmd_userns_keeper(int argc, char **argv) {
  if (argc != 2) {
    dprintf(2, "usage: tspod-rt userns-keeper FILE (run by tspod's helpers)\n");
    return 125;
  }
  keeper_main(argv[1]);
}

static void close_fds_from(int lo) {
  if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) < 0)
    for (int fd = lo; fd < 1024; fd++) close(fd);
}

/* Make a keeper, map it, record it in file (best effort) and join it: 0, else -1 and err. */
static int make_keeper(const char *uidmap, const char *gidmap, const char *file, char *err, size_t errlen) {
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    /* First let go of everything the helper holds (the CLI's pipes above all). */
    int g = fcntl(go[0], F_DUPFD, 100), r = fcntl(ready[1], F_DUPFD, 100);
    int null = open("/dev/null", O_RDWR);
    if (g < 0 || r < 0 || null < 0) _exit(1);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    if (dup2(g, 3) < 0 || dup2(r, 4) < 0) _exit(1);
    close_fds_from(5);
    int e = setsid() < 0 || chdir("/") < 0 ? errno : 0;
    if (!e && unshare(CLONE_NEWUSER) < 0) e = errno;
    if (write(4, &e, sizeof e) != (ssize_t)sizeof e || e) _exit(1);
    close(4);
    /* tests: a keeper that dies once mapped, before it is told to go on */
    const char *fp = getenv("TSPOD_RT_FAILPOINT");
    if (fp && !strcmp(fp, "keeper-dies-early")) _exit(0);
    char c = 0;
    if (read(3, &c, 1) != 1 || c != 'g') _exit(0);
    close(3);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGTERM, SIG_DFL), signal(SIGINT, SIG_DFL), signal(SIGHUP, SIG_DFL);
    /* a fresh image: nothing of the helper's memory, command line or environment stays */
    char *args[] = {"tspod-rt", "userns-keeper", (char *)file, NULL}, *env[] = {NULL};
    execve("/proc/self/exe", args, env);
    keeper_main(file); /* the exec failed: the same, in this image */
  }
  close(ready[1]);
  close(go[0]);
  int e = 0;
  if (read(ready[0], &e, sizeof e) != (ssize_t)sizeof e) e = ECHILD;
  close(ready[0]);
  if (e) {
    close(go[1]);
    waitpid(pid, NULL, 0);
    snprintf(err, errlen, "unshare(CLONE_NEWUSER): %s", strerror(e));
    return -1;
  }
  int rc = map_ids(pid, uidmap, gidmap, err, errlen);
  char ns[64];
  snprintf(ns, sizeof ns, "/proc/%d/ns/user", (int)pid);
  int nsfd = rc == 0 ? open(ns, O_RDONLY | O_CLOEXEC) : -1; /* holds the namespace whatever the keeper does */
  if (rc == 0 && nsfd < 0) snprintf(err, errlen, "open %s: %s", ns, strerror(errno)), rc = -1;
  if (rc == 0) {
    char tmp[4200], line[32];
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", file, (int)getpid());
    snprintf(line, sizeof line, "%d\n", (int)pid);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int wrote = fd >= 0 && write_all(fd, line, strlen(line)) == 0;
    if (fd >= 0) close(fd);
    if (!wrote || rename(tmp, file) < 0) unlink(tmp); /* not recorded: the keeper just exits */
    /* a keeper killed meanwhile: EPIPE, not this helper's death (nsfd holds its namespace) */
    void (*was)(int) = signal(SIGPIPE, SIG_IGN);
    (void)!write(go[1], "g", 1);
    signal(SIGPIPE, was);
  }
  close(go[1]); /* without a "g" the keeper exits */
  if (rc == 0 && setns(nsfd, CLONE_NEWUSER) < 0) snprintf(err, errlen, "setns: %s", strerror(errno)), rc = -1;
  if (nsfd >= 0) close(nsfd);
  if (rc < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  /* A recorded keeper is not waited for: when this helper ends it is reparented. */
  return rc;
}

/*
 * Enter a user namespace with these maps: the keeper's named in file, else a
 * new keeper's. The caller must be single-threaded. 0, else -1 and err.
 */
int enter_kept_userns(const char *uidmap, const char *gidmap, const char *file, char *err, size_t errlen) {
  pid_t pid = read_keepfile(file);
  if (pid > 0 && join_userns_of(pid, uidmap, gidmap) == 0) return 0;
  char lock[4200];
  snprintf(lock, sizeof lock, "%s.lock", file);
  int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  /* held while a keeper is made (a few ms); a holder stopped there (^Z) delays the
     others 10 s at most, then they make their own */
  for (int i = 0; lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0 && i < 2000; i++) usleep(5000);
  /* another helper may have made one while this one waited */
  pid = read_keepfile(file);
  int rc = pid > 0 && join_userns_of(pid, uidmap, gidmap) == 0 ? 0 : make_keeper(uidmap, gidmap, file, err, errlen);
  if (lfd >= 0) close(lfd);
  return rc;
}

/*
 * Run fn(arg) in a forked child that is root of a new user namespace mapped
 * with SPECs through newuidmap/newgidmap; with NULL specs a single-id map
 * (0 -> own uid/gid). With keep (and specs), in this process, in the kept
 * namespace (enter_kept_userns). Returns the child's exit status (fn's return value),
 * or -1 with a message in err when the namespace could not be set up.
 * As real root with NULL specs, fn runs in a plain forked child.
 */
int run_in_userns(const char *uidmap, const char *gidmap, const char *keep, int (*fn)(void *), void *arg, char *err, size_t errlen) {
  if (uidmap && keep) {
    if (enter_kept_userns(uidmap, gidmap, keep, err, errlen) < 0) return -1;
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
      snprintf(err, errlen, "become root in the user namespace: %s", strerror(errno));
      return -1;
    }
    return fn(arg);
  }
  int go[2];
  if (pipe2(go, O_CLOEXEC) < 0) return -1;
  int as_root = getuid() == 0 && !uidmap;
  uid_t uid = getuid();
  gid_t gid = getgid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(go[1]);
    if (!as_root && unshare(CLONE_NEWUSER) < 0) {
      dprintf(2, "tspod-rt: unshare(CLONE_NEWUSER): %s\n", strerror(errno));
      _exit(125);
    }
    char c = 0;
    if (read(go[0], &c, 1) != 1 || c != 'g') _exit(125);
    close(go[0]);
    if (!as_root && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
      dprintf(2, "tspod-rt: become root in the user namespace: %s\n", strerror(errno));
      _exit(125);
    }
    _exit(fn(arg));
  }
  close(go[0]);
  int ok = 1;
  if (!as_root) {
    /* wait until the child is in its own user namespace */
    char nspath[64], a[128] = "", b[128] = "";
    snprintf(nspath, sizeof nspath, "/proc/%d/ns/user", (int)pid);
    ssize_t sl = readlink("/proc/self/ns/user", b, sizeof b - 1);
    if (sl > 0) b[sl] = 0;
    for (int i = 0; i < 100000; i++) {
      ssize_t n = readlink(nspath, a, sizeof a - 1);
      if (n <= 0) break;
      a[n] = 0;
      if (strcmp(a, b)) break;
      usleep(50);
    }
    if (uidmap) {
      if (map_ids(pid, uidmap, gidmap, err, errlen) < 0) ok = 0;
    } else {
      int r = write_single_maps(pid, uid, gid);
      if (r < 0) {
        if (err) snprintf(err, errlen, "write id map: %s", strerror(-r));
        ok = 0;
      }
    }
  }
  if (ok) write_all(go[1], "g", 1);
  close(go[1]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!ok) return -1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return 128 + WTERMSIG(st);
}
