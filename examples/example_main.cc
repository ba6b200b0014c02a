#include "examples/example_main.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "iostream/signal_watcher.h"

ABSL_FLAG(std::string, address, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 8888, "port to listen on (0: any free port)");
ABSL_FLAG(int, threads, 1, "threads, each with its own IOLoop (SO_REUSEPORT)");

namespace gust {
namespace examples {

void ParseFlags(int argc, char** argv) { absl::ParseCommandLine(argc, argv); }

std::string UserPath(const std::string& path) {
  const char* directory = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || directory == nullptr) return path;
  return std::string(directory) + "/" + path;
}

int RunParsedServer(TCPServer::HandleStream handler, TCPServer::Options options) {
  IOLoop& loop = IOLoop::Current();
  // SIGINT or SIGTERM stops the loop; then the server goes out of scope, which stops accepting,
  // stops its threads and destroys every connection's handler (closing its stream).
  absl::StatusOr<std::unique_ptr<SignalWatcher>> signals =
      SignalWatcher::Create({SIGINT, SIGTERM}, [&loop](int) { loop.Stop(); });
  if (!signals.ok()) {
    std::fprintf(stderr, "cannot watch signals: %s\n", signals.status().ToString().c_str());
    return 1;
  }
  TCPServer server(std::move(handler), std::move(options));
  const int threads = absl::GetFlag(FLAGS_threads);
  absl::Status bound = server.Bind(absl::GetFlag(FLAGS_port), absl::GetFlag(FLAGS_address));
  if (bound.ok()) bound = server.Start(threads);
  if (!bound.ok()) {
    std::fprintf(stderr, "cannot listen: %s\n", bound.ToString().c_str());
    return 1;
  }
  std::printf("listening on %s (%s, %d threads)\n", server.addresses()[0].ToString().c_str(),
              std::string(loop.backend_name()).c_str(), threads);
  std::fflush(stdout);
  absl::Status ran = loop.Start();  // runs until SIGINT or SIGTERM
  if (!ran.ok()) std::fprintf(stderr, "loop failed: %s\n", ran.ToString().c_str());
  return ran.ok() ? 0 : 1;
}

int RunServer(int argc, char** argv, TCPServer::HandleStream handler,
              TCPServer::Options options) {
  ParseFlags(argc, argv);
  return RunParsedServer(std::move(handler), std::move(options));
}

}  // namespace examples
}  // namespace gust
