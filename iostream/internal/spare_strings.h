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
#include <cstring>
#include <new>
#include <string>
#include <utility>

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
inline void KeepSmallSpareString(std::string&& data);

// A kept string whose size is at least `min_size` and whose storage is at most `max_capacity`
// (contents unspecified: a read fills it), or an empty string. The bound keeps a small read
// from handing its caller a large block.
std::string TakeSpareString(size_t min_size, size_t max_capacity);

// Frees every string this thread keeps. Fuzzers call it between inputs: libFuzzer takes an
// input that allocates more than it frees for a leak, and runs it again under LeakSanitizer.
void ReleaseSpareStrings();

// `n` bytes from `data` in a string: a kept one whose storage fits them without waste (n to
// 4n bytes, or up to 64 for a short line) if there is one, else a new one.
inline std::string CopyIntoSpareString(const char* data, size_t n);

// --- Implementation details ---
//
// Lines' strings are kept on a per-thread stack, and only its top is looked at: a line server
// takes back at once the string it has just kept. Both ends of that (once per pipelined line)
// are inline: two calls that only moved a string were a fifth of the instructions per line.
namespace spare_strings_internal {

// Whether a kept string of `capacity` holds `n` bytes without wasting most of its storage.
inline bool FitsWithoutWaste(size_t capacity, size_t n) {
  return capacity >= n && capacity <= (4 * n > 64 ? 4 * n : 64);
}

// Plain data, constructed only while a slot holds a string, so that other files reach it
// without a thread-local initialization call; what it holds at thread exit is freed by a
// releaser made with the first string kept.
struct SmallSpareStack {
  alignas(std::string) unsigned char slots[kMaxSmallSpares][sizeof(std::string)];
  size_t count;
  bool releaser_made;

  std::string* Slot(size_t i) { return std::launder(reinterpret_cast<std::string*>(slots[i])); }
};
extern constinit thread_local SmallSpareStack small_spare_stack;

void MakeSmallSpareReleaser();
// The ways CopyIntoSpareString takes other than reusing the top string whole.
std::string CopyIntoSpareStringSlow(const char* data, size_t n);

}  // namespace spare_strings_internal

inline void KeepSmallSpareString(std::string&& data) {
  // An empty string's capacity is what std::string holds inline: nothing to keep.
  if (data.capacity() <= std::string().capacity() || data.capacity() > kMaxSmallSpareCapacity) {
    return;
  }
  spare_strings_internal::SmallSpareStack& stack = spare_strings_internal::small_spare_stack;
  if (stack.count == kMaxSmallSpares) return;
  if (!stack.releaser_made) spare_strings_internal::MakeSmallSpareReleaser();
  new (stack.Slot(stack.count++)) std::string(std::move(data));
}

inline std::string CopyIntoSpareString(const char* data, size_t n) {
  spare_strings_internal::SmallSpareStack& stack = spare_strings_internal::small_spare_stack;
  if (n > std::string().capacity() && n < kMinSpareSize && stack.count > 0) {
    std::string* top = stack.Slot(stack.count - 1);
    // Shrinking is inline (growing, even within the capacity, is a call into libstdc++): a
    // line server's kept answer is as long as the next line, or longer.
    if (top->size() >= n && spare_strings_internal::FitsWithoutWaste(top->capacity(), n)) {
      std::string out(std::move(*top));
      top->~basic_string();
      --stack.count;
      out.resize(n);
      std::memcpy(out.data(), data, n);
      return out;
    }
  }
  return spare_strings_internal::CopyIntoSpareStringSlow(data, n);
}

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_SPARE_STRINGS_H_
