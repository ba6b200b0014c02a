#include "iostream/internal/write_buffer.h"

#include <utility>

namespace gust {
namespace internal {

void WriteBuffer::Append(absl::string_view data) {
  if (data.empty()) return;
  size_ += data.size();
  if (data.size() <= kSmallPiece) {
    if (last_coalesces_ && chunks_.back().size() + data.size() <= kChunkLimit) {
      chunks_.back().append(data.data(), data.size());
      return;
    }
    chunks_.emplace_back(data);
    chunks_.back().reserve(kSmallPiece * 2);
    last_coalesces_ = true;
    return;
  }
  chunks_.emplace_back(data);
  last_coalesces_ = false;
}

void WriteBuffer::Append(std::string&& data) {
  if (data.size() <= kSmallPiece) {
    Append(absl::string_view(data));
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

}  // namespace internal
}  // namespace gust
