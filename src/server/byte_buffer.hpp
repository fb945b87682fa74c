#pragma once
// A growable byte buffer with a read and a write position, reused for the life
// of a connection so that steady-state requests allocate nothing.
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace gateway {

class byte_buffer {
 public:
  explicit byte_buffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}

  std::string_view view() const noexcept { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  std::size_t capacity() const noexcept { return capacity_; }
  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() noexcept { begin_ = end_ = 0; }

  // Space to read into: moves unread bytes to the front when that frees room,
  // and grows (up to `limit`) when the buffer is full.
  char* prepare(std::size_t& room, std::size_t limit) {
    if (end_ == capacity_ && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == capacity_ && capacity_ < limit) {
      std::size_t grown = capacity_ * 2 < limit ? capacity_ * 2 : limit;
      std::unique_ptr<char[]> bigger(new char[grown]);
      std::memcpy(bigger.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      data_ = std::move(bigger);
      capacity_ = grown;
    }
    room = capacity_ - end_;
    return data_.get() + end_;
  }
  void commit(std::size_t n) noexcept { end_ += n; }
  // Grows an empty buffer to at least `n` bytes (for buffers sized on first use).
  void reserve(std::size_t n) {
    if (capacity_ >= n || !empty()) return;
    data_.reset(new char[n]);
    capacity_ = n;
    begin_ = end_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace gateway
