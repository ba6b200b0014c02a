// ReadBuffer: a stream's received bytes not yet handed to a reader.
//
// One contiguous allocation with a start offset: consuming from the front is O(1), and the dead
// prefix is reclaimed by one memmove only when it is at least as large as the live data, so
// every byte is moved O(1) times in amortized terms, however small the reads (a naive
// erase-from-front would make many small reads quadratic). The storage is uninitialized, sized in
// powers of two, and released when the buffer empties, so an idle stream holds no read buffer.
// Blocks come from per-thread caches: chunk-sized ones for reads, pooled small ones for the few
// bytes of a batch that ShrinkToFit keeps (state_pool.h), and a few of each power of two in
// between for the rest of a burst it moves to smaller storage.

#ifndef GUST_IOSTREAM_INTERNAL_READ_BUFFER_H_
#define GUST_IOSTREAM_INTERNAL_READ_BUFFER_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "iostream/internal/spare_strings.h"

namespace gust {
namespace internal {

class ReadBuffer {
 public:
  ReadBuffer() = default;
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  ~ReadBuffer();

  size_t size() const { return end_ - start_; }
  bool empty() const { return end_ == start_; }
  size_t capacity() const { return capacity_; }
  absl::string_view view() const { return absl::string_view(data_ + start_, size()); }

  // A writable span of at least `min_free` bytes after the data; CommitAppend(n) then adds the
  // first n bytes written there. Storage it has to allocate holds at least `min_capacity` bytes
  // (a stream asks for a chunk-sized block, which comes from the thread's cache).
  absl::Span<char> PrepareAppend(size_t min_free, size_t min_capacity = 0);
  void CommitAppend(size_t n) { end_ += n; }

  void Append(absl::string_view data);
  // Puts `data` back in front of the buffered bytes.
  void Prepend(absl::string_view data);

  // Removes the first n bytes (n <= size()) and returns them / copies them to `out`. (Inline:
  // a call level that only passes the string on cost 20 instructions per pipelined line.)
  [[gnu::always_inline]] std::string Take(size_t n) {
    std::string out = CopyIntoSpareString(data_ + start_, n);
    Consume(n);
    return out;
  }
  void TakeInto(size_t n, char* out);
  void Consume(size_t n) {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }

  // Frees the storage if the buffer is empty.
  void ReleaseIfEmpty() {
    if (empty() && data_ != nullptr) Release();
  }
  // Frees the storage if the buffer is empty, and moves the data to smaller storage if it fills
  // a quarter or less of more than 4 KiB: a stream holding the rest of a batch of lines, or
  // waiting for the rest of one, keeps a few bytes, not the chunk it read them with. Moving them
  // costs at most a quarter of the bytes read into that storage. (Twice per read: inline up to
  // the work.)
  void ShrinkToFit() {
    if (empty()) return ReleaseIfEmpty();
    if (capacity_ > kSmallCapacity) Shrink();
  }
  // Whether ShrinkToFit may move the data: it holds some, in storage past kSmallCapacity.
  bool MayShrink() const { return !empty() && capacity_ > kSmallCapacity; }

 private:
  // ShrinkToFit leaves storage this small alone.
  static constexpr size_t kSmallCapacity = 4096;

  void Shrink();   // ShrinkToFit's move, of a non-empty buffer
  void Release();  // the storage of an empty buffer

  char* data_ = nullptr;  // capacity_ bytes from AllocateBlock
  size_t capacity_ = 0;
  size_t start_ = 0;
  size_t end_ = 0;
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_READ_BUFFER_H_
