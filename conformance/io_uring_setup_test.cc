// The io_uring backend on a kernel that refuses io_uring (kernel.io_uring_disabled, a seccomp
// filter, a container's policy): creating a loop fails with a status that names the backend,
// the reason and the way out, never a crash. The refusal is real, not mocked: a child process
// installs a seccomp filter that fails io_uring_setup with EPERM, as Docker's default profile
// does, and then creates a loop.

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>

#include "gtest/gtest.h"
#include "iostream/io_loop.h"

namespace gust {
namespace {

// In the calling (child) process: io_uring_setup fails with EPERM from now on.
bool RefuseIoUring() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program = {static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

TEST(IoUringSetupTest, ARefusedRingIsAClearErrorNotACrash) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    std::string report = "cannot install the seccomp filter";
    if (RefuseIoUring()) {
      absl::StatusOr<std::unique_ptr<IOLoop>> loop = IOLoop::Create();
      report = loop.ok() ? "the loop was created" : loop.status().ToString();
    }
    (void)!write(pipe_fds[1], report.data(), report.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string report;
  char chunk[512];
  for (ssize_t n; (n = read(pipe_fds[0], chunk, sizeof(chunk))) > 0;) report.append(chunk, n);
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child crashed: " << status;
  EXPECT_NE(report.find("UNAVAILABLE"), std::string::npos) << report;
  EXPECT_NE(report.find("io_uring backend"), std::string::npos) << report;
  EXPECT_NE(report.find("Operation not permitted"), std::string::npos) << report;
  EXPECT_NE(report.find("--@gust//backends:poller=epoll"), std::string::npos) << report;
}

}  // namespace
}  // namespace gust
