/*
 * `tspod-rt probe DIR [UIDMAP GIDMAP]`: real kernel probes for `tspod info`,
 * done where Bun cannot (unshare(CLONE_NEWUSER) needs a single-threaded
 * process). A forked child enters a user namespace; with UIDMAP/GIDMAP
 * (SPEC "ctr:host:count,...") the parent maps it through newuidmap/newgidmap,
 * as containers will be, else a single-id map is written. The child then
 * tries a mount namespace, a whiteout device and a kernel overlay mount in
 * DIR (an empty directory on the storage filesystem; the caller removes it).
 * Prints one JSON object.
 */
#include "common.h"
#include "idmap.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

struct probe_result {
  int mountns; /* 0 ok, else errno */
  int chown_subid;
  int mknod_wh;
  int overlay;
};

static void child(const char *dir, int res_fd, int full) {
  struct probe_result res = {0};
  char l[4096], u[4096], w[4096], m[4096], f[4096], opts[16384];
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
    res.mountns = res.chown_subid = res.mknod_wh = res.overlay = errno;
    goto out;
  }
  snprintf(l, sizeof l, "%s/l", dir);
  snprintf(u, sizeof u, "%s/u", dir);
  snprintf(w, sizeof w, "%s/w", dir);
  snprintf(m, sizeof m, "%s/m", dir);
  snprintf(f, sizeof f, "%s/l/f", dir);
  if (mkdir(l, 0700) < 0 || mkdir(u, 0700) < 0 || mkdir(w, 0700) < 0 || mkdir(m, 0700) < 0) {
    res.chown_subid = res.mknod_wh = res.overlay = errno;
    goto out;
  }
  int fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  res.chown_subid = full ? (lchown(f, 1, 1) < 0 ? errno : 0) : EINVAL;
  if (!res.chown_subid) lchown(f, 0, 0); /* so the caller can remove it */
  snprintf(f, sizeof f, "%s/u/wh", dir);
  res.mknod_wh = mknod(f, S_IFCHR | 0600, makedev(0, 0)) < 0 ? errno : 0;
  snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", l, u, w);
  if (mount("overlay", m, "overlay", 0, opts) < 0) res.overlay = errno;
  else umount2(m, MNT_DETACH);
  /* Clean up as the namespace root: overlay leaves w/work with mode 000. */
  snprintf(f, sizeof f, "%s/w/work", dir);
  rmdir(f);
  snprintf(f, sizeof f, "%s/u/wh", dir);
  unlink(f);
  snprintf(f, sizeof f, "%s/l/f", dir);
  unlink(f);
  rmdir(l), rmdir(u), rmdir(w), rmdir(m);
out:
  write_all(res_fd, &res, sizeof res);
  _exit(0);
}

static void emit(FILE *o, const char *name, int err, const char *msg) {
  fprintf(o, "\"%s\":", name);
  if (err == 0) fprintf(o, "{\"ok\":true}");
  else {
    fprintf(o, "{\"ok\":false,\"error\":");
    json_str(o, msg ? msg : strerror(err));
    fprintf(o, "}");
  }
}

int cmd_probe(int argc, char **argv) {
  if (argc < 2) die(125, "usage: tspod-rt probe DIR [UIDMAP GIDMAP]");
  const char *dir = argv[1];
  const char *uidmap = argc > 3 ? argv[2] : NULL, *gidmap = argc > 3 ? argv[3] : NULL;
  int go[2], res_p[2];
  if (pipe2(go, O_CLOEXEC) < 0 || pipe2(res_p, O_CLOEXEC) < 0) die(125, "pipe");
  int userns_err = 0, idmap_err = uidmap ? 0 : EINVAL;
  char idmap_msg[512] = "no subordinate id range given";
  pid_t pid = fork();
  if (pid < 0) die(125, "fork");
  if (pid == 0) {
    close(go[1]);
    close(res_p[0]);
    if (unshare(CLONE_NEWUSER) < 0) {
      struct probe_result r = {errno, errno, errno, errno};
      write_all(res_p[1], &r, sizeof r);
      _exit(2);
    }
    /* wait for the parent's map: 'f' for a full map, 's' for single */
    char c = 0;
    if (read(go[0], &c, 1) != 1) _exit(1);
    child(dir, res_p[1], c == 'f');
  }
  close(go[0]);
  close(res_p[1]);
  /* Give the child a moment to unshare: poll its uid_map until it is a new namespace. */
  char nspath[64], self[64], a[128] = "", b[128] = "";
  snprintf(nspath, sizeof nspath, "/proc/%d/ns/user", (int)pid);
  snprintf(self, sizeof self, "/proc/self/ns/user");
  ssize_t sl = readlink(self, b, sizeof b - 1);
  if (sl > 0) b[sl] = 0;
  for (int i = 0; i < 2000; i++) {
    ssize_t n = readlink(nspath, a, sizeof a - 1);
    if (n > 0) {
      a[n] = 0;
      if (strcmp(a, b)) break;
    } else break; /* child exited (unshare failed) */
    usleep(100);
  }
  int full = 0;
  if (uidmap) {
    if (map_ids(pid, uidmap, gidmap, idmap_msg, sizeof idmap_msg) == 0)
      full = 1;
    else idmap_err = EPERM;
  }
  if (!full) {
    int r = write_single_maps(pid, getuid(), getgid());
    if (r < 0) userns_err = -r;
  }
  write_all(go[1], full ? "f" : "s", 1);
  close(go[1]);
  struct probe_result res;
  ssize_t n = read(res_p[0], &res, sizeof res);
  int st;
  waitpid(pid, &st, 0);
  if (n != (ssize_t)sizeof res) die(125, "probe child died");
  if (WIFEXITED(st) && WEXITSTATUS(st) == 2) userns_err = res.mountns;
  FILE *o = stdout;
  fputc('{', o);
  emit(o, "userns", userns_err, NULL);
  fputc(',', o);
  emit(o, "idmap", idmap_err, idmap_msg);
  fputc(',', o);
  emit(o, "mountns", userns_err ? userns_err : res.mountns, NULL);
  fputc(',', o);
  emit(o, "chown_subid", userns_err ? userns_err : res.chown_subid, full ? NULL : "no full id map");
  fputc(',', o);
  emit(o, "whiteout_mknod", userns_err ? userns_err : res.mknod_wh, NULL);
  fputc(',', o);
  emit(o, "overlay_userns", userns_err ? userns_err : res.overlay, NULL);
  fputs("}\n", o);
  return 0;
}
