/*
 * `tspod-rt run-ctr SPECFILE`: start a container in the foreground with this
 * process's stdio and wait for it (no monitor). Exit code: the container's,
 * or 125/126/127 when it could not start. Used by tests and the bare-runtime
 * benchmark; the engine itself goes through the monitor.
 */
#include "common.h"
#include "sealed.h"
#include "spec.h"
#include <sys/wait.h>

int cmd_run_ctr(int argc, char **argv) {
  if (argc < 2) die(125, "usage: tspod-rt run-ctr SPECFILE");
  ensure_sealed_self(argv - 1);
  static struct spec s;
  if (spec_load(argv[1], &s) < 0) return 125;
  char err[1024] = "";
  int efd = -1;
  pid_t pid = ctr_spawn(&s, 0, 1, 2, -1, &efd, err, sizeof err);
  if (pid < 0) {
    dprintf(2, "tspod-rt: %s\n", err);
    return 125;
  }
  char msg[1024] = "";
  int e = ctr_read_start_error(efd, msg, sizeof msg);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (e) {
    dprintf(2, "tspod-rt: %s\n", msg);
    return e == ENOENT ? 127 : (e == EACCES || e == ENOEXEC || e == EPERM) ? 126 : 125;
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return 128 + WTERMSIG(st);
}
