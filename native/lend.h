/*
 * Published TCP ports without a forwarder: see lend.c.
 */
#ifndef TSPOD_LEND_H
#define TSPOD_LEND_H
#include "spec.h"

#define LEND_MAX_LISTENERS 256
#define LEND_MAX_RANGES 256
#define LEND_MAX_PORTS 1024 /* host ports held at most (more: src/network/setup.ts lends none) */

/* Landlock's ABI version here (4 and up: TCP bind and connect rules), or -1 with errno. */
int lend_landlock_abi(void);
/* What a container's processes run under (0: nothing): LEND_TCP for published
   ports served without a forwarder (net.lend), LEND_NET for a network started at
   the first socket (net.lazy). A pod's infra (pause=1) runs nothing. */
#define LEND_TCP 1
#define LEND_NET 2
int lend_what(const struct spec *s);
/* In a process about to run container code: with LEND_TCP, the Landlock domain
   that keeps TCP bind() and connect() from it and the filter that hands those
   (and listen()) to the monitor; with LEND_NET, socket() (not AF_UNIX) to the
   monitor too. Returns the filter's notification fd (O_CLOEXEC), or -1 with errno. */
int lend_install(int what);
/* In a process about to run container code (a container's, an exec's): a
   session keyring of its own, then, unless unconfined (--security-opt
   seccomp=unconfined), the filter that makes add_key, request_key and keyctl
   fail (ENOSYS). 0, or -1 with errno (the filter could not be installed). */
int keys_confine(int unconfined);
/* Send len bytes of data with fd attached (SCM_RIGHTS) over a unix socket: 0 or -1. */
int lend_send_fd(int sock, const void *data, size_t len, int fd);
/* The fd a received message carried (SCM_RIGHTS), or -1. */
struct msghdr;
int lend_cmsg_fd(struct msghdr *m);
/* Receive one byte with an fd attached: the fd, or -1. */
int lend_recv_fd(int sock, char *tag);

/* Monitor side. */
/* The lock every monitor of this user takes around checking its ports and holding them (an fd to close, or -1). */
int lend_lock(void);
/* Hold every lent host port so no one else can take it (checked free just before); -1 with err. */
int lend_reserve(const struct spec *s, char *err, size_t errlen);
/* Watch this notification fd of the container's processes (taken over; closed when they are gone). */
void lend_watch(const struct spec *s, int fd);
/* The fds to poll (POLLIN), into fds; returns how many. */
int lend_fds(int *fds, int max);
/* fd is readable (or hung up): answer one notification, or forget fd. */
void lend_event(int fd, short revents);
/* The container whose network ctr joined is gone: ctr ends too (what was lent there must not outlive it). */
void lend_revoke(pid_t ctr);
/* net.lazy: socket() calls wait until lend_net_up(); the first one calls want()
   (which starts the network; it may call lend_net_up(0) at once). */
void lend_net_lazy(void (*want)(void));
/* The network is up (ok) or could not be set up: the waiting calls go on either way
   (failed: a later socket tries again; returns the seconds until it may). */
int lend_net_up(int ok);
/* The container is gone: let go of the ports and the notification fds. */
void lend_release(void);
#endif
