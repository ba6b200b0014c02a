// Where gust's log lines go, and how many of them: to stderr by default, or to a sink of the
// application's (Tornado logs through Python's logging module, as "tornado.general" and friends).
//
// gust logs what nobody else sees: errors on streams nobody is reading, accept failures, a
// handler's error, TLS handshake failures. Errors that reach a future are returned, not logged.
//
// Example: into the application's own logger, warnings and up.
//   gust::SetLogSink([](gust::LogSeverity severity, absl::string_view message) {
//     MyLogger::Write(gust::LogSeverityName(severity), message);
//   });
//   gust::SetMinLogSeverity(gust::LogSeverity::kWarning);

#ifndef GUST_IOSTREAM_LOG_H_
#define GUST_IOSTREAM_LOG_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"

namespace gust {

enum class LogSeverity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// "INFO", "WARNING", "ERROR", "FATAL".
absl::string_view LogSeverityName(LogSeverity severity);

// Called for each line at or above the minimum severity, from whichever thread logs it (a
// TCPServer's threads too), so it must be thread-safe. It must not call into gust.
using LogSink = absl::AnyInvocable<void(LogSeverity severity, absl::string_view message)>;

// Replaces where lines go; nullptr restores the default (one "gust SEVERITY: message" line on
// stderr). Safe from any thread. A failed internal check (a gust bug) goes to stderr, whatever
// the sink, and aborts.
void SetLogSink(LogSink sink);

// Lines below `severity` are dropped: kInfo, the default, keeps all; kError keeps errors only.
// Safe from any thread.
void SetMinLogSeverity(LogSeverity severity);

namespace internal {

// How gust's own code logs a line: to the sink, if at or above the minimum severity.
void LogLine(LogSeverity severity, absl::string_view message);

}  // namespace internal

}  // namespace gust

#endif  // GUST_IOSTREAM_LOG_H_
