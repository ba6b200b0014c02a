// raw_line_server: the baseline for line_server, a single-threaded, level-triggered epoll
// server with no library at all: it reads what is there, answers every complete line, and
// writes the answers of one read with one write(). Prints "listening on 127.0.0.1:PORT".

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--port=", 7) == 0) port = std::atoi(argv[i] + 7);
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listener, 1024) != 0) {
    std::perror("bind");
    return 1;
  }
  socklen_t size = sizeof(address);
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size);
  std::printf("listening on 127.0.0.1:%d (raw epoll, 1 threads)\n", ntohs(address.sin_port));
  std::fflush(stdout);

  const int epoll_fd = epoll_create1(0);
  epoll_event event = {};
  event.events = EPOLLIN;
  event.data.fd = listener;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
  std::unordered_map<int, std::string> partial;
  epoll_event ready[256];
  char buffer[65536];
  std::string out;
  for (;;) {
    const int n = epoll_wait(epoll_fd, ready, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = ready[i].data.fd;
      if (fd == listener) {
        for (;;) {
          const int client = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
          if (client < 0) break;
          event.data.fd = client;
          epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &event);
        }
        continue;
      }
      const ssize_t got = read(fd, buffer, sizeof(buffer));
      if (got <= 0) {
        partial.erase(fd);
        close(fd);
        continue;
      }
      std::string& pending = partial[fd];
      pending.append(buffer, got);
      const size_t last = pending.rfind('\n');
      if (last == std::string::npos) continue;
      out.assign(pending, 0, last + 1);  // every complete line, answered as it came
      pending.erase(0, last + 1);
      if (write(fd, out.data(), out.size()) < 0) {
        partial.erase(fd);
        close(fd);
      }
    }
  }
}
