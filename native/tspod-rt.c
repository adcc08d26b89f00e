/*
 * tspod-rt: tspod's native runtime helper. One static binary, one mode per
 * argv[1]. Modes that enter a container's namespaces first re-execute from a
 * sealed memfd (see sealed.h).
 */
#include "common.h"
#include "sealed.h"
#include "idmap.h"

int cmd_probe(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_rmtree(int argc, char **argv);
int cmd_du(int argc, char **argv);
int cmd_copy_layers(int argc, char **argv);
int cmd_diff_tar(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_run_ctr(int argc, char **argv);
int cmd_exec(int argc, char **argv);

/* `tspod-rt sealed-check`: proves the self-protection works; used by tests. */
static int cmd_sealed_check(int argc, char **argv) {
  (void)argc;
  ensure_sealed_self(argv - 1);
  int fd = open("/proc/self/exe", O_WRONLY | O_CLOEXEC);
  int e = fd < 0 ? errno : 0;
  if (fd >= 0) {
    /* Opening may succeed on a memfd; writing must not. */
    e = write(fd, "x", 1) < 0 ? errno : 0;
    close(fd);
  }
  printf("{\"sealed\":%s,\"write_error\":", is_sealed_self() ? "true" : "false");
  json_str(stdout, e ? strerror(e) : "");
  printf("}\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    dprintf(2, "usage: tspod-rt MODE ...\n");
    return 125;
  }
  const char *mode = argv[1];
  if (!strcmp(mode, "probe")) return cmd_probe(argc - 1, argv + 1);
  if (!strcmp(mode, "unpack")) return cmd_unpack(argc - 1, argv + 1);
  if (!strcmp(mode, "exec")) return cmd_exec(argc - 1, argv + 1);
  if (!strcmp(mode, "run-ctr")) return cmd_run_ctr(argc - 1, argv + 1);
  if (!strcmp(mode, "rmtree")) return cmd_rmtree(argc - 1, argv + 1);
  if (!strcmp(mode, "du")) return cmd_du(argc - 1, argv + 1);
  if (!strcmp(mode, "copy-layers")) return cmd_copy_layers(argc - 1, argv + 1);
  if (!strcmp(mode, "diff-tar")) return cmd_diff_tar(argc - 1, argv + 1);
  if (!strcmp(mode, "monitor")) return cmd_monitor(argc - 1, argv + 1);
  if (!strcmp(mode, "sealed-check")) return cmd_sealed_check(argc - 1, argv + 1);
  if (!strcmp(mode, "userns-keeper")) return cmd_userns_keeper(argc - 1, argv + 1);
  dprintf(2, "tspod-rt: unknown mode %s\n", mode);
  return 125;
}
