// WriteBuffer: bytes queued by Write() and not yet accepted by the fd.
//
// Small writes are copied and coalesced into shared chunks, so a burst of small writes becomes
// a few iovecs for one writev(); a large std::string passed by rvalue is adopted as its own chunk
// without a copy, and a large string_view is copied exactly once. Tornado: _StreamBuffer.

#ifndef GUST_IOSTREAM_INTERNAL_WRITE_BUFFER_H_
#define GUST_IOSTREAM_INTERNAL_WRITE_BUFFER_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "iostream/internal/fifo.h"
#include "iostream/internal/spare_strings.h"

namespace gust {
namespace internal {

class WriteBuffer {
 public:
  // Pieces up to this size are coalesced; a coalescing chunk grows to at most kChunkLimit.
  static constexpr size_t kSmallPiece = 4096;
  static constexpr size_t kChunkLimit = 64 * 1024;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // A small piece that fits the coalescing chunk is copied in here (inline: a line server
  // queues every answer this way); anything else takes AppendSlow.
  void Append(absl::string_view data) {
    if (last_coalesces_ && data.size() <= kSmallPiece &&
        tail_used_ + data.size() <= chunks_.back().size()) {
      std::memcpy(chunks_.back().data() + tail_used_, data.data(), data.size());
      tail_used_ += static_cast<uint32_t>(data.size());
      size_ += data.size();
      return;
    }
    AppendSlow(data);
  }
  // A string of a full small piece or more is adopted as its own chunk, not copied: echoes of
  // 4 KiB messages hand over exactly that, and the string then serves a later read
  // (spare_strings.h). So is a small one that arrives to an empty buffer when the caller expects
  // nothing to follow it before the flush (`alone`: a request/response stream's one answer),
  // since no chunk is needed to copy it into. Other small ones are copied, and their storage is
  // kept for a later line.
  void Append(std::string&& data, bool alone = false) {
    if (data.size() >= kSmallPiece || (alone && chunks_.empty() && !data.empty())) {
      return Adopt(std::move(data));
    }
    Append(absl::string_view(data));
    KeepSmallSpareString(std::move(data));
  }

  // Fills up to `max` iovecs with the front of the buffer; returns how many it filled. One
  // chunk inline: a request/response stream's answer is one, flushed once per line.
  int Peek(iovec* iov, int max) const {
    if (chunks_.size() != 1 || max < 1) return PeekSlow(iov, max);
    const std::string& only = chunks_.front();
    iov[0].iov_base = const_cast<char*>(only.data() + first_offset_);
    iov[0].iov_len = Length(only) - first_offset_;
    return 1;
  }

  // Drops the first n bytes (n <= size()).
  void Advance(size_t n);

  void Clear();

  // Heap bytes held: the chunks' capacities and the queue's storage.
  size_t heap_bytes() const;

  // How many chunks it holds (for tests of the coalescing rule).
  size_t chunk_count() const { return chunks_.size(); }

 private:
  // A chunk's bytes: all of it, but for the coalescing chunk at the back.
  size_t Length(const std::string& chunk) const {
    return last_coalesces_ && &chunk == &chunks_.back() ? tail_used_ : chunk.size();
  }
  int PeekSlow(iovec* iov, int max) const;
  void AppendSlow(absl::string_view data);
  void Adopt(std::string&& data);
  // Ends the coalescing chunk at the back: from now on its size is its length.
  void CloseTail();

  Fifo<std::string> chunks_;
  size_t first_offset_ = 0;  // bytes of chunks_.front() already written
  size_t size_ = 0;
  // chunks_.back() takes small pieces. It is sized to its capacity (zero-filled once, when it
  // is made or grows) and holds tail_used_ bytes: a piece is then one memcpy, where
  // std::string::append was two calls into libstdc++ and half the cost of queuing a line.
  bool last_coalesces_ = false;
  uint32_t tail_used_ = 0;  // at most kChunkLimit; beside the flag, it costs a stream no bytes
};

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_WRITE_BUFFER_H_
