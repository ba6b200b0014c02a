// WriteBuffer: bytes queued by Write() and not yet accepted by the fd.
//
// Small writes are copied and coalesced into shared chunks, so a burst of small writes becomes
// a few iovecs for one writev(); a large std::string passed by rvalue is adopted as its own chunk
// without a copy, and a large string_view is copied exactly once. Tornado: _StreamBuffer.

#ifndef GUST_IOSTREAM_INTERNAL_WRITE_BUFFER_H_
#define GUST_IOSTREAM_INTERNAL_WRITE_BUFFER_H_

#include <sys/uio.h>

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "iostream/internal/fifo.h"

namespace gust {
namespace internal {

class WriteBuffer {
 public:
  // Pieces up to this size are coalesced; a coalescing chunk grows to at most kChunkLimit.
  static constexpr size_t kSmallPiece = 4096;
  static constexpr size_t kChunkLimit = 64 * 1024;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void Append(absl::string_view data);
  void Append(std::string&& data);

  // Fills up to `max` iovecs with the front of the buffer; returns how many it filled.
  int Peek(iovec* iov, int max) const;

  // Drops the first n bytes (n <= size()).
  void Advance(size_t n);

  void Clear();

  // Heap bytes held: the chunks' capacities and the queue's storage.
  size_t heap_bytes() const;

  // How many chunks it holds (for tests of the coalescing rule).
  size_t chunk_count() const { return chunks_.size(); }

 private:
  Fifo<std::string> chunks_;
  size_t first_offset_ = 0;  // bytes of chunks_.front() already written
  size_t size_ = 0;
  bool last_coalesces_ = false;  // chunks_.back() takes small pieces
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_WRITE_BUFFER_H_
