// SpareStrings: large strings a stream has finished with (written answers it adopted), kept per
// thread so that a read can fill one instead of copying its bytes out of the read buffer.
//
// A std::string cannot grow without zero-filling its new bytes (C++20 has no
// resize_and_overwrite), so a read straight into a fresh result string costs a memset of its
// whole size. A kept string is initialized already: a read fills its front and shrinks it to
// what arrived. An echo or a proxy, which writes back what it read, then moves its bytes the way
// a hand-written server does: kernel -> string -> kernel.

#ifndef GUST_IOSTREAM_INTERNAL_SPARE_STRINGS_H_
#define GUST_IOSTREAM_INTERNAL_SPARE_STRINGS_H_

#include <cstddef>
#include <string>

namespace gust {
namespace internal {

// Kept strings are at least this large; a thread keeps at most kMaxSpareStrings of them, none
// of more than kMaxSpareCapacity bytes of storage.
inline constexpr size_t kMinSpareSize = 32 * 1024;
inline constexpr size_t kMaxSpareCapacity = 256 * 1024;
inline constexpr size_t kMaxSpareStrings = 4;

// Keeps `data` (its size; its contents are dropped) if it qualifies and there is room.
void KeepSpareString(std::string&& data);

// A kept string whose size is at least `min_size` (contents unspecified), or an empty string.
std::string TakeSpareString(size_t min_size);

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_SPARE_STRINGS_H_
