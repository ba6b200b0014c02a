#include "iostream/internal/write_buffer.h"

#include <algorithm>
#include <cstring>
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

// A coalescing chunk, sized to kCoalescingCapacity: a cached one was left that size unless it
// was closed short (a large piece followed its small ones).
std::string TakeCachedChunk() {
  std::string chunk;
  if (!cached_chunks.empty()) {
    chunk = std::move(cached_chunks.back());
    cached_chunks.pop_back();
  }
  chunk.resize(kCoalescingCapacity);
  return chunk;
}

// A sent chunk: a coalescing one is cached for the next small writes, an adopted one may serve
// a read (spare_strings.h): a small one the next line read.
void RecycleChunk(std::string& chunk) {
  if (chunk.capacity() == kCoalescingCapacity) {
    if (cached_chunks.size() < kMaxCachedChunks) cached_chunks.push_back(std::move(chunk));
    return;
  }
  if (chunk.size() < WriteBuffer::kSmallPiece) return KeepSmallSpareString(std::move(chunk));
  KeepSpareString(std::move(chunk));
}

}  // namespace

void WriteBuffer::CloseTail() {
  if (!last_coalesces_) return;
  chunks_.back().resize(tail_used_);  // shrinks: no call, no fill
  last_coalesces_ = false;
}

void WriteBuffer::AppendSlow(absl::string_view data) {
  if (data.empty()) return;
  size_ += data.size();
  if (data.size() <= kSmallPiece) {
    const size_t used = tail_used_ + data.size();
    if (last_coalesces_ && used <= kChunkLimit) {
      std::string& tail = chunks_.back();
      if (used > tail.size()) tail.resize(std::min(std::max(2 * tail.size(), used), kChunkLimit));
      std::memcpy(tail.data() + tail_used_, data.data(), data.size());
      tail_used_ = static_cast<uint32_t>(used);
      return;
    }
    CloseTail();
    // A coalescing chunk that was sent is reused: a stream that answers in small writes
    // allocates no chunk per flush.
    std::string& tail = chunks_.emplace_back(TakeCachedChunk());
    std::memcpy(tail.data(), data.data(), data.size());
    tail_used_ = static_cast<uint32_t>(data.size());
    last_coalesces_ = true;
    return;
  }
  CloseTail();
  chunks_.emplace_back(data);
}

void WriteBuffer::Adopt(std::string&& data) {
  CloseTail();
  size_ += data.size();
  chunks_.emplace_back(std::move(data));
}

int WriteBuffer::PeekSlow(iovec* iov, int max) const {
  int count = 0;
  size_t offset = first_offset_;
  for (auto it = chunks_.begin(); it != chunks_.end() && count < max; ++it, ++count) {
    iov[count].iov_base = const_cast<char*>(it->data() + offset);
    iov[count].iov_len = Length(*it) - offset;
    offset = 0;
  }
  return count;
}

void WriteBuffer::Advance(size_t n) {
  size_ -= n;
  while (n > 0) {
    const size_t left = Length(chunks_.front()) - first_offset_;
    if (n < left) {
      first_offset_ += n;
      return;
    }
    n -= left;
    if (chunks_.size() == 1) last_coalesces_ = false;  // the tail goes, still its full size
    RecycleChunk(chunks_.front());
    chunks_.pop_front();
    first_offset_ = 0;
  }
}

void WriteBuffer::Clear() {
  chunks_.clear();
  first_offset_ = 0;
  size_ = 0;
  last_coalesces_ = false;
  tail_used_ = 0;
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
