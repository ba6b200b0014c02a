#include "iostream/log.h"

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace gust {
namespace {

absl::Mutex sink_mutex(absl::kConstInit);
std::atomic<int> min_severity{static_cast<int>(LogSeverity::kInfo)};

// Shared so that a line being written keeps its sink alive while another thread replaces it.
// Never destroyed: a thread may still log while the process exits.
std::shared_ptr<LogSink>& Sink() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sink_mutex) {
  static auto& sink = *new std::shared_ptr<LogSink>();
  return sink;
}

void WriteToStderr(LogSeverity severity, absl::string_view message) {
  const std::string line = absl::StrCat("gust ", LogSeverityName(severity), ": ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

absl::string_view LogSeverityName(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kInfo:
      return "INFO";
    case LogSeverity::kWarning:
      return "WARNING";
    case LogSeverity::kError:
      return "ERROR";
    case LogSeverity::kFatal:
      return "FATAL";
  }
  return "UNKNOWN";
}

void SetLogSink(LogSink new_sink) {
  std::shared_ptr<LogSink> replacement =
      new_sink == nullptr ? nullptr : std::make_shared<LogSink>(std::move(new_sink));
  absl::MutexLock lock(&sink_mutex);
  Sink().swap(replacement);
}

void SetMinLogSeverity(LogSeverity severity) {
  min_severity.store(static_cast<int>(severity), std::memory_order_relaxed);
}

namespace internal {

void LogLine(LogSeverity severity, absl::string_view message) {
  if (static_cast<int>(severity) < min_severity.load(std::memory_order_relaxed)) return;
  std::shared_ptr<LogSink> current;
  {
    absl::MutexLock lock(&sink_mutex);
    current = Sink();
  }
  if (current != nullptr) {
    (*current)(severity, message);
  } else {
    WriteToStderr(severity, message);
  }
}

}  // namespace internal
}  // namespace gust
