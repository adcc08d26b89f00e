/* Loading the container spec (see spec.h). */
#include "common.h"
#include "spec.h"
#include <sys/resource.h>
#include <sys/stat.h>

static const struct {
  const char *name;
  int res;
} RLIMITS[] = {
    {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},     {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},     {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME}, {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

static int bad(const char *path, const char *what, const char *v) {
  dprintf(2, "tspod-rt: spec %s: %s%s%s\n", path, what, v ? ": " : "", v ? v : "");
  return -1;
}

#define PUSH(arr, n, max, v)                         \
  do {                                               \
    if ((n) >= (max)) return bad(path, "too many entries for", key); \
    (arr)[(n)++] = (v);                              \
  } while (0)

int spec_load(const char *path, struct spec *s) {
  memset(s, 0, sizeof *s);
  s->cwd = "/";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bad(path, "open", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size > (1 << 24)) {
    close(fd);
    return bad(path, "unreadable or too large", NULL);
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) return bad(path, "out of memory", NULL);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = 0;
  /* Records are NUL-terminated; the buffer stays allocated for the process's lifetime. */
  for (size_t off = 0; off < got;) {
    char *rec = buf + off;
    size_t len = strlen(rec);
    off += len + 1;
    if (!len) continue;
    char *eq = strchr(rec, '=');
    if (!eq) return bad(path, "record without '='", rec);
    *eq = 0;
    const char *key = rec;
    char *val = eq + 1;
    if (!strcmp(key, "arg")) PUSH(s->args, s->nargs, SPEC_MAX_LIST, val);
    else if (!strcmp(key, "env")) PUSH(s->env, s->nenv, SPEC_MAX_LIST, val);
    else if (!strcmp(key, "cwd")) s->cwd = val;
    else if (!strcmp(key, "uid")) s->uid = (uid_t)strtoul(val, NULL, 10);
    else if (!strcmp(key, "gid")) s->gid = (gid_t)strtoul(val, NULL, 10);
    else if (!strcmp(key, "groups")) {
      for (char *save = NULL, *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save))
        PUSH(s->groups, s->ngroups, 64, (gid_t)strtoul(t, NULL, 10));
    } else if (!strcmp(key, "hostname")) s->hostname = val;
    else if (!strcmp(key, "ns")) {
      if (!strcmp(val, "user")) s->ns_user = 1;
      else if (!strcmp(val, "mnt")) s->ns_mnt = 1;
      else if (!strcmp(val, "pid")) s->ns_pid = 1;
      else if (!strcmp(val, "uts")) s->ns_uts = 1;
      else if (!strcmp(val, "ipc")) s->ns_ipc = 1;
      else if (!strcmp(val, "net")) s->ns_net = 1;
      else if (!strcmp(val, "cgroup")) s->ns_cgroup = 1;
      else return bad(path, "unknown namespace", val);
    } else if (!strcmp(key, "netns")) s->netns = val;
    else if (!strcmp(key, "userns")) s->userns = val;
    else if (!strcmp(key, "userns.keep")) s->userns_keep = val;
    else if (!strcmp(key, "pause")) s->pause = !strcmp(val, "1");
    else if (!strcmp(key, "net.helper")) s->net_helper = val;
    else if (!strcmp(key, "net.arg")) PUSH(s->net_args, s->nnet_args, SPEC_MAX_LIST, val);
    else if (!strcmp(key, "net.pidfile")) s->net_pidfile = val;
    else if (!strcmp(key, "net.api")) s->net_api = val;
    else if (!strcmp(key, "net.port")) PUSH(s->net_ports, s->nnet_ports, SPEC_MAX_LIST, val);
    else if (!strcmp(key, "net.lend")) PUSH(s->net_lend, s->nnet_lend, SPEC_MAX_LIST, val);
    else if (!strcmp(key, "net.lazy")) s->net_lazy = !strcmp(val, "1");
    else if (!strcmp(key, "uidmap")) s->uidmap = val;
    else if (!strcmp(key, "gidmap")) s->gidmap = val;
    else if (!strcmp(key, "rootfs")) s->rootfs = val;
    else if (!strcmp(key, "rootfs.driver")) s->driver = val;
    else if (!strcmp(key, "rootfs.lower")) PUSH(s->lower, s->nlower, SPEC_MAX_LIST, val);
    else if (!strcmp(key, "rootfs.lowerbase")) s->chdir_layers = val;
    else if (!strcmp(key, "rootfs.upper")) s->upper = val;
    else if (!strcmp(key, "rootfs.work")) s->work = val;
    else if (!strcmp(key, "rootfs.readonly")) s->readonly_rootfs = !strcmp(val, "1");
    else if (!strcmp(key, "mount")) PUSH(s->mounts, s->nmounts, SPEC_MAX_LIST, val);
    else if (!strcmp(key, "masked")) PUSH(s->masked, s->nmasked, 128, val);
    else if (!strcmp(key, "readonly")) PUSH(s->ropaths, s->nropaths, 128, val);
    else if (!strcmp(key, "cap")) PUSH(s->caps, s->ncaps, 64, val);
    else if (!strcmp(key, "cap.ambient")) PUSH(s->ambient, s->nambient, 64, val);
    else if (!strcmp(key, "rlimit")) {
      char *a = strchr(val, ':'), *b = a ? strchr(a + 1, ':') : NULL;
      if (!a || !b) return bad(path, "rlimit is NAME:SOFT:HARD", val);
      *a = 0;
      int res = -1;
      for (size_t i = 0; i < sizeof RLIMITS / sizeof RLIMITS[0]; i++)
        if (!strcmp(RLIMITS[i].name, val)) res = RLIMITS[i].res;
      if (res < 0) return bad(path, "unknown rlimit", val);
      if (s->nrlimits >= 32) return bad(path, "too many rlimits", NULL);
      s->rlimits[s->nrlimits].resource = res;
      s->rlimits[s->nrlimits].soft = strtoull(a + 1, NULL, 10);
      s->rlimits[s->nrlimits].hard = strtoull(b + 1, NULL, 10);
      s->nrlimits++;
    } else if (!strcmp(key, "no_new_privs")) s->no_new_privs = !strcmp(val, "1");
    else if (!strcmp(key, "seccomp")) s->seccomp_unconfined = !strcmp(val, "unconfined");
    else if (!strcmp(key, "init")) s->init = val;
    else if (!strcmp(key, "sysctl")) PUSH(s->sysctls, s->nsysctls, 32, val);
    else if (!strcmp(key, "cgroup")) PUSH(s->cgroups, s->ncgroups, 16, val);
    else if (!strcmp(key, "tty")) s->tty = !strcmp(val, "1");
    else if (!strcmp(key, "oom_score_adj")) {
      s->oom_score_adj = atoi(val);
      s->has_oom_score_adj = 1;
    } else return bad(path, "unknown key", key);
  }
  if (!s->nargs) return bad(path, "no arg= records (nothing to run)", NULL);
  s->args[s->nargs] = NULL;
  s->env[s->nenv] = NULL;
  s->net_args[s->nnet_args] = NULL;
  if (s->net_helper) {
    if (strcmp(s->net_helper, "pasta") && strcmp(s->net_helper, "slirp4netns")) return bad(path, "unknown net.helper", s->net_helper);
    if (!s->nnet_args) return bad(path, "net.helper without net.arg records", NULL);
    if (!s->net_pidfile) return bad(path, "net.helper without net.pidfile", NULL);
  }
  return 0;
}
