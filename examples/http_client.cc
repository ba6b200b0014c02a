// http_client: the example from Tornado's IOStream documentation, done with TCPClient and a
// coroutine: an HTTP/1.0 GET that reads the headers with ReadUntil("\r\n\r\n") and the body
// with ReadBytes(Content-Length), then prints the body.
//   bazel run //examples:http_client -- --host=127.0.0.1 --port=8000 --path=/

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "iostream/io_loop.h"
#include "iostream/tcp_client.h"
#include "iostream/task.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "server host name or address");
ABSL_FLAG(int, port, 80, "server port");
ABSL_FLAG(std::string, path, "/", "path to GET");

namespace {

gust::Task<std::string> Fetch(std::string host, uint16_t port, std::string path) {
  gust::TCPClient client;
  absl::StatusOr<std::shared_ptr<gust::IOStream>> stream = co_await client.Connect(host, port);
  if (!stream.ok()) co_return stream.status();
  (*stream)->Write(absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", host, "\r\n\r\n"));
  absl::StatusOr<std::string> head = co_await (*stream)->ReadUntil("\r\n\r\n", 64 * 1024);
  if (!head.ok()) co_return head.status();
  std::vector<std::string> lines = absl::StrSplit(*head, "\r\n");
  if (lines.empty() || !absl::StrContains(lines[0], " 200 ")) {
    co_return absl::UnavailableError(absl::StrCat("server answered: ", lines[0]));
  }
  size_t length = 0;
  bool has_length = false;
  for (const std::string& line : lines) {
    std::pair<std::string, std::string> field = absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (absl::AsciiStrToLower(field.first) == "content-length") {
      has_length = absl::SimpleAtoi(absl::StripAsciiWhitespace(field.second), &length);
    }
  }
  // Without a Content-Length, an HTTP/1.0 body ends when the server closes. (Two statements,
  // not one ?: with a co_await on each side: g++ 12 miscompiles that.)
  if (has_length) co_return co_await (*stream)->ReadBytes(length);
  co_return co_await (*stream)->ReadUntilClose();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<std::string> body = gust::IOLoop::Current().RunSync(
      [] {
        return Fetch(absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port),
                     absl::GetFlag(FLAGS_path));
      },
      absl::Seconds(30));
  if (!body.ok()) {
    std::fprintf(stderr, "http_client: %s\n", body.status().ToString().c_str());
    return 1;
  }
  std::fwrite(body->data(), 1, body->size(), stdout);
  return 0;
}
