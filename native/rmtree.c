/*
 * `tspod-rt rmtree [--uidmap SPEC --gidmap SPEC] PATH...`: remove trees whose
 * files belong to subordinate ids (layers, container upper dirs), from inside
 * a user namespace with the same map, where the user may remove them.
 * Never crosses into other filesystems' mounts and never follows symlinks.
 */
#include "common.h"
#include "idmap.h"
#include <dirent.h>
#include <sys/stat.h>

static int rm_at(int parent, const char *name, dev_t dev) {
  struct stat st;
  if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -1 : 0;
  if (st.st_dev != dev) {
    errno = EXDEV; /* a mount point: refuse rather than descend */
    return -1;
  }
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {
    fchmodat(parent, name, 0700, 0);
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return -1;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return -1;
  }
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (rm_at(dirfd(d), e->d_name, dev) < 0) {
      if (errno == EACCES || errno == EPERM) {
        fchmod(dirfd(d), 0700);
        if (rm_at(dirfd(d), e->d_name, dev) == 0) continue;
      }
      rc = -1;
      break;
    }
  }
  closedir(d);
  if (rc < 0) return -1;
  return unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_trees(int n, char **paths, int report) {
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (lstat(paths[i], &st) < 0) {
      if (errno == ENOENT) continue;
    } else if (rm_at(AT_FDCWD, paths[i], st.st_dev) == 0) continue;
    int e = errno;
    if (report) dprintf(2, "tspod-rt: rmtree: %s: %s\n", paths[i], strerror(e));
    errno = e;
    return -1;
  }
  return 0;
}

struct rm_args {
  int n;
  char **paths;
};

static int do_rm(void *p) {
  struct rm_args *a = p;
  return rm_trees(a->n, a->paths, 1) < 0 ? 1 : 0;
}

int cmd_rmtree(int argc, char **argv) {
  const char *uidmap = NULL, *gidmap = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--uidmap") && i + 1 < argc) uidmap = argv[++i];
    else if (!strcmp(argv[i], "--gidmap") && i + 1 < argc) gidmap = argv[++i];
    else break;
  }
  if (i >= argc) die(125, "usage: tspod-rt rmtree [--uidmap SPEC --gidmap SPEC] PATH...");
  struct rm_args a = {argc - i, argv + i};
  char err[512] = "";
  int rc = run_in_userns(uidmap, gidmap, do_rm, &a, err, sizeof err);
  if (rc < 0) die(125, "rmtree: user namespace: %s", err);
  return rc;
}
