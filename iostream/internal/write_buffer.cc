#include "iostream/internal/write_buffer.h"

#include <utility>
#include <vector>

#include "iostream/internal/spare_strings.h"

namespace gust {
namespace internal {
namespace {

// Sent coalescing chunks are kept per thread (not per stream, which would hold them while
// idle), so that streams answering in small writes allocate no chunk per flush.
constexpr size_t kCoalescingCapacity = WriteBuffer::kSmallPiece * 2;
constexpr size_t kMaxCachedChunks = 16;
thread_local std::vector<std::string> cached_chunks;

std::string TakeCachedChunk() {
  if (cached_chunks.empty()) return std::string();
  std::string chunk = std::move(cached_chunks.back());
  cached_chunks.pop_back();
  chunk.clear();
  return chunk;
}

// A sent chunk: a coalescing one is cached for the next small writes, an adopted one may serve
// a read (spare_strings.h).
void RecycleChunk(std::string& chunk) {
  if (chunk.capacity() != kCoalescingCapacity) return KeepSpareString(std::move(chunk));
  if (cached_chunks.size() < kMaxCachedChunks) cached_chunks.push_back(std::move(chunk));
}

}  // namespace

void WriteBuffer::Append(absl::string_view data) {
  if (data.empty()) return;
  size_ += data.size();
  if (data.size() <= kSmallPiece) {
    if (last_coalesces_ && chunks_.back().size() + data.size() <= kChunkLimit) {
      chunks_.back().append(data.data(), data.size());
      return;
    }
    // A coalescing chunk that was sent is reused: a stream that answers in small writes
    // allocates no chunk per flush.
    chunks_.emplace_back(TakeCachedChunk());
    chunks_.back().reserve(kCoalescingCapacity);
    chunks_.back().append(data.data(), data.size());
    last_coalesces_ = true;
    return;
  }
  chunks_.emplace_back(data);
  last_coalesces_ = false;
}

void WriteBuffer::Append(std::string&& data) {
  // A string of a full small piece is adopted, not copied: echoes of 4 KiB messages hand over
  // exactly that, and the string then serves a later read (spare_strings.h).
  if (data.size() < kSmallPiece) {
    Append(absl::string_view(data));
    KeepSmallSpareString(std::move(data));  // copied: its storage can hold a later line
    return;
  }
  size_ += data.size();
  chunks_.emplace_back(std::move(data));
  last_coalesces_ = false;
}

int WriteBuffer::Peek(iovec* iov, int max) const {
  int count = 0;
  size_t offset = first_offset_;
  for (auto it = chunks_.begin(); it != chunks_.end() && count < max; ++it, ++count) {
    iov[count].iov_base = const_cast<char*>(it->data() + offset);
    iov[count].iov_len = it->size() - offset;
    offset = 0;
  }
  return count;
}

void WriteBuffer::Advance(size_t n) {
  size_ -= n;
  while (n > 0) {
    const size_t left = chunks_.front().size() - first_offset_;
    if (n < left) {
      first_offset_ += n;
      return;
    }
    n -= left;
    RecycleChunk(chunks_.front());
    chunks_.pop_front();
    first_offset_ = 0;
  }
  if (chunks_.empty()) last_coalesces_ = false;
}

void WriteBuffer::Clear() {
  chunks_.clear();
  first_offset_ = 0;
  size_ = 0;
  last_coalesces_ = false;
}

size_t WriteBuffer::heap_bytes() const {
  size_t bytes = chunks_.capacity_bytes();
  for (const std::string& chunk : chunks_) {
    // Short strings live inside the std::string object (its small-string buffer).
    if (chunk.capacity() > std::string().capacity()) bytes += chunk.capacity() + 1;
  }
  return bytes;
}

}  // namespace internal
}  // namespace gust
