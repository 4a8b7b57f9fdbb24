// Linux system calls Swift's Glibc module does not export (epoll, eventfd, accept4, SO_PEERCRED's
// struct ucred): the event loop's and the admin socket's needs, declared here so Swift can call them.
// Nothing else belongs in this target.
#ifndef AXIS_CAXISSYS_H
#define AXIS_CAXISSYS_H

#include <sys/epoll.h>
#include <sys/eventfd.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC (glibc declares it only under _GNU_SOURCE).
int axis_accept_nonblocking(int listener);

/// The peer of a Unix-domain socket (SO_PEERCRED; struct ucred is declared only under _GNU_SOURCE).
/// Returns 0 and fills the three values, or -1 with errno set.
int axis_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid);

/// epoll_event is packed on x86_64; these keep Swift away from its layout.
int axis_epoll_add(int epfd, int fd, unsigned int events);
int axis_epoll_modify(int epfd, int fd, unsigned int events);
int axis_epoll_remove(int epfd, int fd);
/// Waits like epoll_wait, writing the ready descriptors and their event bits into two plain arrays.
int axis_epoll_wait(int epfd, int *fds, unsigned int *events, int capacity, int timeout_ms);

#endif
