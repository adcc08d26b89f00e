/*
 * The container spec the TypeScript side writes for the native runtime:
 * a file of NUL-terminated "key=value" records (lists repeat the key).
 * Keys:
 *   arg=ARG              argv, in order (required, at least one)
 *   env=K=V              environment, in order
 *   cwd=DIR              working directory inside the container (default /)
 *   uid=N gid=N          user and group inside the container (default 0)
 *   groups=N,N,...       supplementary groups
 *   hostname=NAME        with ns uts
 *   ns=NAME              user mnt pid uts ipc net cgroup (repeat); absent = not created
 *   netns=PATH           join this network namespace instead of creating one; "join" = the one
 *                        of the pid the monitor is given with --join-pid (container:ID, pods)
 *   userns=PATH          join this user namespace instead of creating one (rootless joins of
 *                        another container's network: its namespace belongs to that user namespace)
 *   uidmap=SPEC gidmap=SPEC   "ctr:host:count,..." through newuidmap/newgidmap;
 *                        absent with ns=user: single-id map of the caller
 *   userns.keep=FILE     with ns=user and the maps: join the user namespace the keeper named
 *                        in FILE holds (made first when there is none; idmap.c), as
 *                        Podman's containers share its pause process's; no newuidmap
 *   rootfs=DIR           the merged mount point (overlay) or the root dir (vfs)
 *   rootfs.driver=overlay|fuse-overlayfs|vfs
 *   rootfs.lower=DIR     lower layers, top-most first (overlay drivers)
 *   rootfs.lowerbase=DIR lower dirs are relative to DIR (keeps overlay options under a page)
 *   rootfs.upper=DIR rootfs.work=DIR
 *   rootfs.readonly=1    --read-only
 *   mount=TYPE\tSRC\tDST\tOPTIONS[\tVOLUMEDIR]   bind (OPTIONS ro,rw,nosuid,...), tmpfs (OPTIONS size=..,mode=..);
 *                        VOLUMEDIR: a named volume's directory (its first use copies the image's content in)
 *   masked=PATH          masked paths (bind /dev/null or empty ro tmpfs)
 *   readonly=PATH        read-only paths
 *   cap=CAP_NAME         capabilities kept (bounding; effective and permitted for root)
 *   cap.ambient=CAP_NAME for a user other than root: effective, permitted, inheritable and ambient (--cap-add)
 *   rlimit=NAME:SOFT:HARD  (NAME like RLIMIT_NOFILE)
 *   no_new_privs=1
 *   seccomp=unconfined   no filter of tspod's for the keyrings (--security-opt seccomp=unconfined)
 *   init=PATH            run PATH (a reaper) as PID 1 with arg= as its child
 *   tty=1                stdin/stdout/stderr are a terminal (the monitor passes the pty slave)
 *   oom_score_adj=N
 *   sysctl=KEY=VALUE     a namespaced sysctl (net.* with its own network namespace)
 *   cgroup=PATH          a cgroup.procs file the process is put in before it runs (repeat)
 *   pause=1              nothing to exec: after the start gate the process waits for a signal
 *                        (a pod's infra container, which only holds the namespaces)
 * Network helper, started by the monitor once the network namespace exists and
 * before the start gate opens (see net.c):
 *   net.helper=pasta|slirp4netns
 *   net.arg=ARG          the helper's argv, in order; "@PID@" becomes the container's pid,
 *                        "@NETNS@" / "@USERNS@" a /proc/self/fd path to its network / user namespace
 *   net.pidfile=PATH     the helper's pid is kept here (pasta writes it; it daemonizes)
 *   net.api=PATH         slirp4netns's API socket: published ports are added through it
 *   net.port=PROTO\tHOSTIP\tHOSTPORT\tCTRPORT\tCOUNT   a published range (HOSTIP empty = all);
 *                        every host port is checked free before the helper starts
 *   net.lend=HOSTIP\tHOSTPORT\tCTRPORT\tCOUNT   a published TCP range served without a
 *                        forwarder (lend.c): the processes run under a bind() filter whose
 *                        notifications the monitor answers; HOSTIP "" (all) or 127.0.0.1.
 *                        With net.helper, the monitor also holds the host ports.
 *   net.lazy=1           pasta starts at the container's first socket other than a unix one
 *                        (its processes run under a socket() filter whose notifications the
 *                        monitor holds until the network is up; lend.c), not before the
 *                        start gate opens: a container that never uses the network never
 *                        pays for it. Not for a pod's infra (pause=1).
 */
#ifndef TSPOD_SPEC_H
#define TSPOD_SPEC_H
#include <sys/types.h>

#define SPEC_MAX_LIST 512

struct spec {
  char *args[SPEC_MAX_LIST + 1];
  int nargs;
  char *env[SPEC_MAX_LIST + 1];
  int nenv;
  const char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t groups[64];
  int ngroups;
  const char *hostname;
  int ns_user, ns_mnt, ns_pid, ns_uts, ns_ipc, ns_net, ns_cgroup;
  const char *netns;
  const char *uidmap, *gidmap;
  const char *rootfs;
  const char *driver;
  const char *lower[SPEC_MAX_LIST];
  int nlower;
  const char *upper, *work;
  int readonly_rootfs;
  char *mounts[SPEC_MAX_LIST];
  int nmounts;
  const char *masked[128];
  int nmasked;
  const char *ropaths[128];
  int nropaths;
  const char *caps[64];
  int ncaps;
  const char *ambient[64]; /* --cap-add for a user other than root: raised as ambient (so effective after exec) */
  int nambient;
  int all_caps; /* exec --privileged: every capability (of the container's user namespace) */
  struct {
    int resource;
    unsigned long long soft, hard;
  } rlimits[32];
  int nrlimits;
  int no_new_privs;
  int seccomp_unconfined;
  const char *init;
  int tty;
  int oom_score_adj;
  int has_oom_score_adj;
  const char *sysctls[32];
  int nsysctls;
  const char *cgroups[16];
  int ncgroups;
  const char *chdir_layers; /* rootfs.lowerbase: lower dirs are relative to this (keeps mount options short) */
  const char *userns;
  const char *userns_keep;
  int pause;
  const char *net_helper;
  char *net_args[SPEC_MAX_LIST + 1];
  int nnet_args;
  const char *net_pidfile, *net_api;
  char *net_ports[SPEC_MAX_LIST];
  int nnet_ports;
  char *net_lend[SPEC_MAX_LIST];
  int nnet_lend;
  int net_lazy;
};

/* Read and check a spec file. On error prints one line and returns -1. */
int spec_load(const char *path, struct spec *s);

/*
 * Start the container process described by s with the given stdio fds.
 * The child enters/creates the namespaces, is mapped by the caller (this
 * function runs newuidmap/newgidmap for it), mounts the rootfs, pivots,
 * drops privileges and execs. Returns the child's host pid, or -1 with a
 * message in err. When start_fd >= 0 the child, after all its setup, blocks
 * reading one byte from it before it execs (so an attached client sees all
 * output). *exec_err_fd receives a CLOEXEC pipe end: it reads EOF when
 * the exec succeeded, else an int errno followed by a message naming the
 * failed step (read it with ctr_read_start_error).
 * The caller must be a single-threaded process (the monitor or run-ctr mode).
 */
pid_t ctr_spawn(const struct spec *s, int stdin_fd, int stdout_fd, int stderr_fd, int start_fd, int *exec_err_fd, char *err, size_t errlen);

/* After ctr_spawn: 0 when the exec succeeded, else the errno of the failing step with msg filled. */
int ctr_read_start_error(int exec_err_fd, char *msg, size_t msglen);

/* Drop to the spec's user, groups and capabilities (used by exec too). */
void ctr_set_creds(const struct spec *s);

/* Report a failed start step through g_errfd (errno + message) and _exit(125). */
extern int g_errfd;
__attribute__((noreturn, format(printf, 1, 2))) void ctr_fail(const char *fmt, ...);

/* ---- network helpers (net.c), run by the monitor ---- */

/* ctr_spawn keeps open fds on the new process's network and user namespaces
 * here when ctr_keep_ns is set (taken before the process can drop its
 * credentials, so no ptrace permission is needed later), then calls
 * ctr_after_clone (if set) before it writes the id map. */
extern int ctr_keep_ns, ctr_netns_fd, ctr_userns_fd;
/* With net.lend or net.lazy: the socket on which the container sends its filter's fd (lend.c), else -1. */
extern int ctr_lend_fd;
extern void (*ctr_after_clone)(pid_t pid);

/* ---- network helpers (net.c), run by the monitor ---- */

enum { NET_NONE, NET_STARTING, NET_READY, NET_FAILED };

/* Every published host port is free (bound once, then released). 0, or -1 with err. */
int net_check_ports(const struct spec *s, char *err, size_t errlen);
/*
 * Start the spec's helper for ctr's network namespace (netns_fd/userns_fd:
 * see ctr_keep_ns); its messages go to log_fd. Returns at once: readiness
 * comes through net_event. 0, or -1 with errno and err.
 */
int net_launch(const struct spec *s, pid_t ctr, int netns_fd, int userns_fd, int log_fd, char *err, size_t errlen);
int net_state(void);
/* While starting: slirp4netns's ready pipe (poll for POLLIN), else -1. */
int net_poll_fd(void);
/* While starting: when it times out (CLOCK_MONOTONIC ms), else -1. */
long long net_deadline(void);
/*
 * Advance the start: p > 0 a child that exited with status, p == 0 the ready
 * fd is readable, p < 0 time passed. 1 when the network just became ready
 * (ports added), -1 when the start just failed (err, errno; nothing left
 * running), 0 otherwise.
 */
int net_event(pid_t p, int status, char *err, size_t errlen);
/* Kill the helper; with wait, also wait until it is gone (its ports are free
   then). Its death can take tens of ms (the kernel removes the namespace's tap
   device), so without published ports the monitor does not wait for it. */
void net_stop(int wait);
/* From the monitor's reaper: 1 when p was the helper (it died on its own). */
int net_reaped(pid_t p);
/*
 * Published UDP ports (pasta, slirp4netns): bind them on the host and start
 * tspod's own forwarder (udpfwd.c) in ctr's namespaces, once the id map is
 * written. 0 (also when there are none), or -1 with err (the network failed).
 */
int net_udp_start(int netns_fd, int userns_fd, char *err, size_t errlen);

/* udpfwd.c: at most this many host sockets (1024 ports on both IPv4 and IPv6, as a
   media range -p 40000-40999/udp needs) */
#define UDP_MAX_PORTS 2048
int udpfwd_bind(const char *ip, int host, int ctr, int *fds, int *ctrs, int *n, char *err, size_t errlen);
__attribute__((noreturn)) void udpfwd_run(int *fds, int *ctrs, int n, int netns_fd, int userns_fd);

#endif
