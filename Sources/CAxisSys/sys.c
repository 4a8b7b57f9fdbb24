#define _GNU_SOURCE
#include <stddef.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include "CAxisSys.h"

int axis_accept_nonblocking(int listener) {
    return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int axis_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

static int axis_epoll_ctl(int epfd, int op, int fd, unsigned int events) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = 0;
    ev.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &ev);
}

int axis_epoll_add(int epfd, int fd, unsigned int events) { return axis_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, events); }
int axis_epoll_modify(int epfd, int fd, unsigned int events) { return axis_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, events); }
int axis_epoll_remove(int epfd, int fd) { return axis_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0); }

int axis_epoll_wait(int epfd, int *fds, unsigned int *events, int capacity, int timeout_ms) {
    struct epoll_event ready[512];
    if (capacity > 512) capacity = 512;
    int n = epoll_wait(epfd, ready, capacity, timeout_ms);
    for (int i = 0; i < n; i++) {
        fds[i] = ready[i].data.fd;
        events[i] = ready[i].events;
    }
    return n;
}
