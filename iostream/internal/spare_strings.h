// SpareStrings: strings a stream has finished with (written answers it adopted), kept per
// thread so that reads reuse them instead of allocating: a bulk read fills one in place, and a
// read copied out of the read buffer goes into one of about its size.
//
// A std::string cannot grow without zero-filling its new bytes (C++20 has no
// resize_and_overwrite), so a read straight into a fresh result string costs a memset of its
// whole size. A kept string is initialized already: a read fills its front and shrinks it to
// what arrived. An echo or a proxy, which writes back what it read, then moves its bytes the way
// a hand-written server does: kernel -> string -> kernel. Reusing strings also keeps a busy
// loop's heap from shrinking and growing back (glibc trims its top past 128 KiB free, and every
// page that comes back faults again).

#ifndef GUST_IOSTREAM_INTERNAL_SPARE_STRINGS_H_
#define GUST_IOSTREAM_INTERNAL_SPARE_STRINGS_H_

#include <cstddef>
#include <string>

namespace gust {
namespace internal {

// Kept strings hold at least kMinSpareSize bytes and at most kMaxSpareCapacity; a thread keeps
// at most kMaxSpareBytes of them in all (a hundred connections' worth of 4 KiB echoes in flight
// fit, so the heap stops shrinking and growing back under them).
inline constexpr size_t kMinSpareSize = 4 * 1024;
inline constexpr size_t kMaxSpareCapacity = 256 * 1024;
inline constexpr size_t kMaxSpareBytes = 2 * 1024 * 1024;
// Lines are kept apart: up to kMaxSmallSpares strings whose storage is on the heap (longer than
// std::string holds inline) and at most kMaxSmallSpareCapacity. A line server's answer, copied
// into the write buffer, then holds the next line read, without a malloc and a free.
inline constexpr size_t kMaxSmallSpareCapacity = 1024;
inline constexpr size_t kMaxSmallSpares = 64;

// Keeps `data` (its size; its contents are dropped) if it qualifies and there is room.
void KeepSpareString(std::string&& data);
// Keeps `data`'s storage for a later CopyIntoSpareString of a line, if it qualifies and there is
// room.
void KeepSmallSpareString(std::string&& data);

// A kept string whose size is at least `min_size` and whose storage is at most `max_capacity`
// (contents unspecified: a read fills it), or an empty string. The bound keeps a small read
// from handing its caller a large block.
std::string TakeSpareString(size_t min_size, size_t max_capacity);

// Frees every string this thread keeps. Fuzzers call it between inputs: libFuzzer takes an
// input that allocates more than it frees for a leak, and runs it again under LeakSanitizer.
void ReleaseSpareStrings();

// `n` bytes from `data` in a string: a kept one whose storage fits them without waste (n to
// 4n bytes, or up to 64 for a short line) if there is one, else a new one.
std::string CopyIntoSpareString(const char* data, size_t n);

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_SPARE_STRINGS_H_
