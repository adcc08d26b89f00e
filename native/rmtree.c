/*
 * `tspod-rt rmtree [--uidmap SPEC --gidmap SPEC] PATH...`: remove trees whose
 * files belong to subordinate ids (layers, container upper dirs), from inside
 * a user namespace with the same map, where the user may remove them.
 * Never crosses into other filesystems' mounts and never follows symlinks.
 *
 * `tspod-rt du [--uidmap SPEC --gidmap SPEC] PATH...`: the size of each tree as
 * containers/storage counts it (Podman's ps --size): the bytes of every file
 * that is not a directory, a hard-linked one once; a line per PATH (0 for one
 * that is not there), read where the user may read every directory.
 */
#include "common.h"
#include "idmap.h"
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
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

struct tree_args {
  int n;
  char **paths;
};

static int do_rm(void *p) {
  struct tree_args *a = p;
  return rm_trees(a->n, a->paths, 1) < 0 ? 1 : 0;
}

/* ---- du ---- */
/* inodes with more than one link, seen already (open addressing; 0 is empty) */
static uint64_t *g_seen;
static size_t g_nseen, g_capseen;

static int seen_before(dev_t dev, ino_t ino) {
  uint64_t k = ((uint64_t)dev << 40) ^ (uint64_t)ino ^ 1; /* never 0 for a real inode */
  if (2 * (g_nseen + 1) > g_capseen) {
    size_t cap = g_capseen ? 2 * g_capseen : 1024;
    uint64_t *t = calloc(cap, sizeof *t);
    if (!t) return 0; /* no memory: counted twice rather than not at all */
    for (size_t i = 0; i < g_capseen; i++)
      if (g_seen[i])
        for (size_t j = (size_t)(g_seen[i] * 0x9E3779B97F4A7C15ULL) & (cap - 1);; j = (j + 1) & (cap - 1))
          if (!t[j]) {
            t[j] = g_seen[i];
            break;
          }
    free(g_seen);
    g_seen = t, g_capseen = cap;
  }
  for (size_t j = (size_t)(k * 0x9E3779B97F4A7C15ULL) & (g_capseen - 1);; j = (j + 1) & (g_capseen - 1)) {
    if (g_seen[j] == k) return 1;
    if (!g_seen[j]) {
      g_seen[j] = k, g_nseen++;
      return 0;
    }
  }
}

static unsigned long long du_at(int parent, const char *name, dev_t dev) {
  struct stat st;
  if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return 0;
  if (!S_ISDIR(st.st_mode)) return st.st_nlink > 1 && seen_before(st.st_dev, st.st_ino) ? 0 : (unsigned long long)st.st_size;
  if (st.st_dev != dev) return 0; /* a mount point: not the tree's */
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d = fd < 0 ? NULL : fdopendir(fd);
  if (!d) {
    if (fd >= 0) close(fd);
    return 0;
  }
  unsigned long long n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n += du_at(dirfd(d), e->d_name, dev);
  closedir(d);
  return n;
}

static int do_du(void *p) {
  struct tree_args *a = p;
  for (int i = 0; i < a->n; i++) {
    struct stat st;
    dprintf(1, "%llu\n", lstat(a->paths[i], &st) < 0 ? 0ULL : du_at(AT_FDCWD, a->paths[i], st.st_dev));
  }
  return 0;
}

/* rmtree and du: [--uidmap SPEC --gidmap SPEC [--keep-userns FILE]] PATH..., fn on the paths in that user namespace */
static int tree_cmd(const char *what, int argc, char **argv, int (*fn)(void *)) {
  struct map_flags m = {0};
  int i = 1;
  while (i < argc && take_map_flag(argc, argv, &i, &m)) i++;
  if (i >= argc) die(125, "usage: tspod-rt %s [--uidmap SPEC --gidmap SPEC [--keep-userns FILE]] PATH...", what);
  struct tree_args a = {argc - i, argv + i};
  char err[512] = "";
  int rc = run_in_userns(m.uidmap, m.gidmap, m.keep, fn, &a, err, sizeof err);
  if (rc < 0) die(125, "%s: user namespace: %s", what, err);
  return rc;
}

int cmd_rmtree(int argc, char **argv) { return tree_cmd("rmtree", argc, argv, do_rm); }
int cmd_du(int argc, char **argv) { return tree_cmd("du", argc, argv, do_du); }
