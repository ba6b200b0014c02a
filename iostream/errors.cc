#include "iostream/errors.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gust {
namespace {

constexpr absl::string_view kKindUrl = "type.gust/StreamErrorKind";
constexpr absl::string_view kRealErrorUrl = "type.gust/RealError";
constexpr absl::string_view kErrnoUrl = "type.gust/Errno";

constexpr absl::string_view kClosed = "StreamClosedError";
constexpr absl::string_view kBufferFull = "StreamBufferFullError";
constexpr absl::string_view kUnsatisfiable = "UnsatisfiableReadError";

absl::Status WithKind(absl::Status status, absl::string_view kind) {
  status.SetPayload(kKindUrl, absl::Cord(kind));
  return status;
}

bool HasKind(const absl::Status& status, absl::string_view kind) {
  auto payload = status.GetPayload(kKindUrl);
  return payload.has_value() && *payload == kind;
}

// A status flattened into one Cord, every field length-prefixed ("<length>:<bytes>"): the
// code, the message, then a URL and a value for each payload.
void AppendField(absl::string_view field, absl::Cord* out) {
  out->Append(absl::StrCat(field.size(), ":"));
  out->Append(field);
}

absl::Cord Serialize(const absl::Status& status) {
  absl::Cord out;
  AppendField(absl::StrCat(static_cast<int>(status.code())), &out);
  AppendField(status.message(), &out);
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) {
    AppendField(url, &out);
    AppendField(std::string(payload), &out);
  });
  return out;
}

// Reads the field at *pos and advances it; nullopt if the text is malformed.
std::optional<absl::string_view> ReadField(absl::string_view text, size_t* pos) {
  const size_t colon = text.find(':', *pos);
  size_t length = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(text.substr(*pos, colon - *pos), &length) ||
      length > text.size() - colon - 1) {
    return std::nullopt;
  }
  *pos = colon + 1 + length;
  return text.substr(colon + 1, length);
}

absl::Status Deserialize(const absl::Cord& cord) {
  const std::string flat(cord);
  const absl::string_view text(flat);
  size_t pos = 0;
  std::optional<absl::string_view> code_text = ReadField(text, &pos);
  std::optional<absl::string_view> message = ReadField(text, &pos);
  int code = 0;
  if (!code_text.has_value() || !message.has_value() || !absl::SimpleAtoi(*code_text, &code)) {
    return absl::UnknownError("malformed real error");
  }
  absl::Status status(static_cast<absl::StatusCode>(code), *message);
  while (pos < text.size()) {
    std::optional<absl::string_view> url = ReadField(text, &pos);
    std::optional<absl::string_view> value = ReadField(text, &pos);
    if (!url.has_value() || !value.has_value()) break;
    status.SetPayload(*url, absl::Cord(*value));
  }
  return status;
}

}  // namespace

absl::Status StreamClosedError(const absl::Status& real_error) {
  if (real_error.ok()) {
    // Every clean close makes one or two of these (the read pending at the end, the writes'
    // progress). Built each time with its payload, the two of a short connection cost 1,500
    // instructions and four allocations, a fifth of its server's own work (callgrind, churn).
    // A copy of this one shares its representation: a reference count. Never destroyed (as
    // log.cc's sink): statuses copied from it may outlive static destruction.
    static const absl::Status& clean_close =
        *new absl::Status(WithKind(absl::UnavailableError("Stream is closed"), kClosed));
    return clean_close;
  }
  absl::Status status = WithKind(
      absl::UnavailableError(absl::StrCat("Stream is closed: ", real_error.ToString())), kClosed);
  status.SetPayload(kRealErrorUrl, Serialize(real_error));
  return status;
}

absl::Status StreamBufferFullError(absl::string_view message) {
  return WithKind(absl::ResourceExhaustedError(message), kBufferFull);
}

absl::Status UnsatisfiableReadError(absl::string_view message) {
  return WithKind(absl::OutOfRangeError(message), kUnsatisfiable);
}

bool IsGustError(const absl::Status& status) {
  return IsStreamClosedError(status) || IsStreamBufferFullError(status) ||
         IsUnsatisfiableReadError(status);
}

bool IsStreamClosedError(const absl::Status& status) { return HasKind(status, kClosed); }
bool IsStreamBufferFullError(const absl::Status& status) { return HasKind(status, kBufferFull); }
bool IsUnsatisfiableReadError(const absl::Status& status) {
  return HasKind(status, kUnsatisfiable);
}

absl::Status RealError(const absl::Status& status) {
  if (!IsStreamClosedError(status)) return absl::OkStatus();
  auto payload = status.GetPayload(kRealErrorUrl);
  if (!payload.has_value()) return absl::OkStatus();
  return Deserialize(*payload);
}

absl::Status ErrnoError(int error_number, absl::string_view what) {
  absl::Status status = absl::ErrnoToStatus(error_number, what);
  status.SetPayload(kErrnoUrl, absl::Cord(absl::StrCat(error_number)));
  return status;
}

absl::Status FdCallError(int error_number, absl::string_view call, int fd) {
  return ErrnoError(error_number, absl::StrCat(call, " fd ", fd));
}

int ErrnoOf(const absl::Status& status) {
  if (IsStreamClosedError(status)) return ErrnoOf(RealError(status));
  auto payload = status.GetPayload(kErrnoUrl);
  int error_number = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &error_number)) return 0;
  return error_number;
}

}  // namespace gust
