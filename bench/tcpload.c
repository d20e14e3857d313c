/* tcpload: a closed-loop TCP connection generator for bench/bench_tcpserver.py.

   usage: tcpload PORT CONCURRENCY SECONDS [SOURCES]

   Keeps CONCURRENCY connections to 127.0.0.1:PORT in flight, each bound to a source address
   127.0.0.(1 + i % SOURCES): connect, wait for the server to close (the program exited),
   close, start again. Stops starting new ones after SECONDS, waits (bounded) for the ones
   in flight, and prints "COMPLETED ELAPSED_SECONDS ERRORS". Loopback only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int port, sources;
static int epfd;
static long errors;

static int start(int i)
{
  struct sockaddr_in src, dst;
  struct epoll_event ev;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd == -1) { perror("socket"); exit(111); }
  memset(&src, 0, sizeof src);
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(0x7f000001 + (i % sources));
  if (bind(fd, (struct sockaddr *) &src, sizeof src) == -1) { perror("bind"); exit(111); }
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  dst.sin_addr.s_addr = htonl(0x7f000001);
  if (connect(fd, (struct sockaddr *) &dst, sizeof dst) == -1 && errno != EINPROGRESS) {
    ++errors;
    close(fd);
    return -1;
  }
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = ((unsigned long long) i << 32) | (unsigned) fd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  return fd;
}

int main(int argc, char **argv)
{
  int concurrency, i, n, inflight = 0;
  double seconds, t0, stop, drain;
  long completed = 0;
  struct epoll_event evs[256];
  char buf[4096];

  if (argc < 4) { fprintf(stderr, "usage: tcpload PORT CONCURRENCY SECONDS [SOURCES]\n"); return 100; }
  port = atoi(argv[1]);
  concurrency = atoi(argv[2]);
  seconds = atof(argv[3]);
  sources = argc > 4 ? atoi(argv[4]) : 1;
  if (sources < 1 || sources > 250) sources = 1;
  epfd = epoll_create1(EPOLL_CLOEXEC);

  t0 = now();
  stop = t0 + seconds;
  drain = stop + 10.0;
  for (i = 0; i < concurrency; ++i)
    if (start(i) != -1) ++inflight;

  while (inflight > 0 && now() < drain) {
    n = epoll_wait(epfd, evs, 256, 100);
    for (int k = 0; k < n; ++k) {
      int fd = (int) (evs[k].data.u64 & 0xffffffffu);
      int slot = (int) (evs[k].data.u64 >> 32);
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) continue;                      /* a banner or output: keep waiting for EOF */
      if (r == -1 && errno == EAGAIN) continue;
      if (r == 0) ++completed; else ++errors;
      epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0);
      close(fd);
      --inflight;
      if (now() < stop && start(slot) != -1) ++inflight;
    }
  }
  printf("%ld %.6f %ld\n", completed, now() - t0, errors + inflight);
  return 0;
}
