#ifndef TSPOD_IDMAP_H
#define TSPOD_IDMAP_H
#include <sys/types.h>
#include <stddef.h>
int write_single_maps(pid_t pid, uid_t uid, gid_t gid);
int map_ids(pid_t pid, const char *uidmap, const char *gidmap, char *err, size_t errlen);
int run_in_userns(const char *uidmap, const char *gidmap, const char *keep, int (*fn)(void *), void *arg, char *err, size_t errlen);
int enter_kept_userns(const char *uidmap, const char *gidmap, const char *file, char *err, size_t errlen);
int cmd_userns_keeper(int argc, char **argv);
#endif
