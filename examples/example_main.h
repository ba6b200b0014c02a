// What every example server shares: flags for the address, port and threads, a TCPServer
// started on them, and a first line on stdout that says where it listens (tests read it).

#ifndef GUST_EXAMPLES_EXAMPLE_MAIN_H_
#define GUST_EXAMPLES_EXAMPLE_MAIN_H_

#include <string>

#include "absl/flags/declare.h"
#include "iostream/tcp_server.h"

ABSL_DECLARE_FLAG(int, threads);

namespace gust {
namespace examples {

// Parses the command line (--address, --port, --threads and the example's own flags), starts
// a server running `handler`, prints "listening on HOST:PORT (BACKEND, N threads)" and runs the
// loop. Returns the process exit code.
int RunServer(int argc, char** argv, TCPServer::HandleStream handler,
              TCPServer::Options options = TCPServer::Options());

// A path the user typed: under `bazel run` the program runs in its runfiles tree, so a relative
// path is taken from the directory `bazel run` was called in (BUILD_WORKING_DIRECTORY).
std::string UserPath(const std::string& path);

// For examples with flags of their own: call ParseFlags first, then RunParsedServer.
void ParseFlags(int argc, char** argv);
int RunParsedServer(TCPServer::HandleStream handler, TCPServer::Options options);

}  // namespace examples
}  // namespace gust

#endif  // GUST_EXAMPLES_EXAMPLE_MAIN_H_
