// line_load: a load generator for line servers. Opens --connections connections to
// 127.0.0.1:--port; each sends --pipeline lines at once, waits for all their answers, and
// repeats, for --seconds. Prints "lines_per_second=N". One thread, raw epoll, so that it costs
// the machine as little as it can.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int Flag(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return std::atoi(argv[i] + prefix.size());
    }
  }
  return fallback;
}

struct Connection {
  int fd;
  int awaiting = 0;  // answers (lines) still expected for the batch in flight
};

}  // namespace

int main(int argc, char** argv) {
  const int port = Flag(argc, argv, "port", 8888);
  const int connections = Flag(argc, argv, "connections", 100);
  const int pipeline = Flag(argc, argv, "pipeline", 16);
  const int seconds = Flag(argc, argv, "seconds", 5);
  const std::string line = "ping 0123456789\r\n";
  std::string batch;
  for (int i = 0; i < pipeline; ++i) batch += line;

  const int epoll_fd = epoll_create1(0);
  std::vector<Connection> pool(connections);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < connections; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      std::perror("connect");
      return 1;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pool[i].fd = fd;
    epoll_event event = {};
    event.events = EPOLLIN;
    event.data.u32 = i;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
  }
  auto send_batch = [&](Connection& c) {
    if (write(c.fd, batch.data(), batch.size()) != static_cast<ssize_t>(batch.size())) {
      std::perror("write");
      std::exit(1);
    }
    c.awaiting = pipeline;
  };
  for (Connection& c : pool) send_batch(c);

  long long lines = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  std::vector<epoll_event> ready(connections);
  char buffer[65536];
  while (std::chrono::steady_clock::now() < end) {
    const int n = epoll_wait(epoll_fd, ready.data(), connections, 100);
    for (int i = 0; i < n; ++i) {
      Connection& c = pool[ready[i].data.u32];
      const ssize_t got = read(c.fd, buffer, sizeof(buffer));
      if (got <= 0) {
        std::fprintf(stderr, "server closed a connection\n");
        return 1;
      }
      for (ssize_t j = 0; j < got; ++j) {
        if (buffer[j] == '\n') {
          ++lines;
          if (--c.awaiting == 0) send_batch(c);
        }
      }
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("lines_per_second=%.0f\n", lines / elapsed);
  return 0;
}
