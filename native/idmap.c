/*
 * User-namespace id maps. A full map goes through the setuid newuidmap /
 * newgidmap (uidmap package) with the user's /etc/subuid range; a single-id
 * map (0 -> own id) is written directly.
 * SPEC is "ctr:host:count[,ctr:host:count...]".
 */
#include "common.h"
#include "idmap.h"
#include <sched.h>
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

/*
 * Run fn(arg) in a forked child that is root of a new user namespace mapped
 * with SPECs through newuidmap/newgidmap; with NULL specs a single-id map
 * (0 -> own uid/gid). Returns the child's exit status (fn's return value),
 * or -1 with a message in err when the namespace could not be set up.
 * As real root with NULL specs, fn runs in a plain forked child.
 */
int run_in_userns(const char *uidmap, const char *gidmap, int (*fn)(void *), void *arg, char *err, size_t errlen) {
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
