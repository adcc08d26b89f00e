#ifndef TSPOD_IDMAP_H
#define TSPOD_IDMAP_H
#include <sys/types.h>
#include <stddef.h>
#include <string.h>

/* The id-map flags of the helpers that work in a user namespace. */
struct map_flags {
  const char *uidmap, *gidmap, *keep;
};

/* argv[*i] and its value when it is --uidmap SPEC, --gidmap SPEC or --keep-userns FILE: taken (1). */
static inline int take_map_flag(int argc, char **argv, int *i, struct map_flags *m) {
  if (*i + 1 >= argc) return 0;
  const char **to = !strcmp(argv[*i], "--uidmap") ? &m->uidmap : !strcmp(argv[*i], "--gidmap") ? &m->gidmap : !strcmp(argv[*i], "--keep-userns") ? &m->keep : NULL;
  if (!to) return 0;
  *to = argv[++*i];
  return 1;
}
int write_single_maps(pid_t pid, uid_t uid, gid_t gid);
int map_ids(pid_t pid, const char *uidmap, const char *gidmap, char *err, size_t errlen);
int run_in_userns(const char *uidmap, const char *gidmap, const char *keep, int (*fn)(void *), void *arg, char *err, size_t errlen);
int enter_kept_userns(const char *uidmap, const char *gidmap, const char *file, char *err, size_t errlen);
int cmd_userns_keeper(int argc, char **argv);
#endif
