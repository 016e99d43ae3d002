#include <fcgiapp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

// accept4(2) and ppoll(2) are GNU extensions that Swift's Glibc module does not declare; the
// transport needs both (SOCK_CLOEXEC on accepted sockets, a wait with an atomic signal mask).
#ifndef __USE_GNU
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
extern int ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout, const sigset_t *mask);
#endif
