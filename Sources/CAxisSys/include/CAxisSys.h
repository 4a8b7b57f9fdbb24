// Linux system calls Swift's Glibc module does not export (epoll, eventfd, accept4): the event
// loop's needs, declared here so Swift can call them. Nothing else belongs in this target.
#ifndef AXIS_CAXISSYS_H
#define AXIS_CAXISSYS_H

#include <sys/epoll.h>
#include <sys/eventfd.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC (glibc declares it only under _GNU_SOURCE).
int axis_accept_nonblocking(int listener);

/// epoll_event is packed on x86_64; these keep Swift away from its layout.
int axis_epoll_add(int epfd, int fd, unsigned int events);
int axis_epoll_modify(int epfd, int fd, unsigned int events);
int axis_epoll_remove(int epfd, int fd);
/// Waits like epoll_wait, writing the ready descriptors and their event bits into two plain arrays.
int axis_epoll_wait(int epfd, int *fds, unsigned int *events, int capacity, int timeout_ms);

#endif
