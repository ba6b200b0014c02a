// ReadUntilRegex: the part of BaseIOStream that calls RE2, in a file of its own. A program
// that never reads until a regex links no RE2 (about 400 KB of code): the rest of the stream
// reaches it only through RareRead::match_end, which is set here.

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "iostream/base_io_stream.h"
#include "re2/re2.h"

namespace gust {
namespace {

// Where the first match of `regex` in `data` ends, if there is one.
std::optional<size_t> MatchEnd(const re2::RE2& regex, absl::string_view data) {
  re2::StringPiece text(data.data(), data.size());
  re2::StringPiece match;
  if (!regex.Match(text, 0, text.size(), RE2::UNANCHORED, &match, 1)) return std::nullopt;
  return match.data() + match.size() - text.data();
}

}  // namespace

Future<std::string> BaseIOStream::ReadUntilRegex(absl::string_view pattern, size_t max_bytes) {
  return ReadUntilRegexImpl(CompileRegex(pattern), max_bytes, nullptr);
}

Future<std::string> BaseIOStream::ReadUntilRegex(std::shared_ptr<const re2::RE2> regex,
                                                 size_t max_bytes) {
  return ReadUntilRegexImpl(std::move(regex), max_bytes, nullptr);
}

void BaseIOStream::ReadUntilRegex(absl::string_view pattern, size_t max_bytes,
                                  ReadCallback callback) {
  ReadUntilRegexImpl(CompileRegex(pattern), max_bytes, std::move(callback));
}

absl::StatusOr<std::shared_ptr<const re2::RE2>> BaseIOStream::CompileRegex(
    absl::string_view pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_encoding(RE2::Options::EncodingLatin1);  // bytes, like Tornado's bytes patterns
  auto regex = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()),
                                           options);
  if (!regex->ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReadUntilRegex: invalid pattern ", Quote(pattern), ": ", regex->error()));
  }
  return regex;
}

Future<std::string> BaseIOStream::ReadUntilRegexImpl(
    absl::StatusOr<std::shared_ptr<const re2::RE2>> regex, size_t max_bytes,
    ReadCallback&& callback) {
  absl::Status invalid = regex.status();
  if (invalid.ok() && (*regex == nullptr || !(*regex)->ok())) {
    invalid = absl::InvalidArgumentError("ReadUntilRegex: null or invalid RE2");
  }
  if (absl::Status refused = CheckCanRead(std::move(invalid)); !refused.ok()) {
    return RefuseRead(std::move(refused), std::move(callback));
  }
  read_.kind = ReadKind::kRegex;
  RareRead& rare = read_.Rare();
  rare.regex = *std::move(regex);
  rare.match_end = &MatchEnd;
  read_.max_bytes = max_bytes;
  return StartRead(std::move(callback));
}

}  // namespace gust
