#pragma once
// A growable byte buffer with a read and a write position, reused for the life
// of a connection so that steady-state requests allocate nothing; and the
// pool of blocks a buffer can hold only while it has bytes to keep.
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace gateway {

class byte_buffer {
 public:
  explicit byte_buffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}
  // A buffer with no room yet: adopt() gives it some.
  byte_buffer() = default;

  // Takes `storage` of `capacity` bytes as its room; it must have none.
  void adopt(std::unique_ptr<char[]> storage, std::size_t capacity) noexcept {
    data_ = std::move(storage);
    capacity_ = capacity;
    begin_ = end_ = 0;
  }
  // Gives up its room (it must be empty); it has none afterwards.
  std::unique_ptr<char[]> release() noexcept {
    capacity_ = 0;
    begin_ = end_ = 0;
    return std::move(data_);
  }

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
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// Blocks of one size for buffers that hold room only while in use (a
// connection's input between requests): a free list, so a busy worker
// reuses the same few blocks instead of calling malloc for each request.
// One thread's (a worker's).
class block_pool {
 public:
  block_pool(std::size_t block, std::size_t max_free) : block_(block), max_free_(max_free) {
    free_.reserve(max_free);
  }
  std::size_t block_size() const noexcept { return block_; }
  // Bytes held in free blocks.
  std::size_t held() const noexcept { return free_.size() * block_; }
  // A block of block_size() bytes (its contents undefined).
  std::unique_ptr<char[]> take() {
    if (free_.empty()) return std::unique_ptr<char[]>(new char[block_]);
    auto b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  // Keeps `b` (of block_size() bytes) for the next take(), or frees it past max_free.
  void give(std::unique_ptr<char[]> b) noexcept {
    if (free_.size() < max_free_) free_.push_back(std::move(b));  // within the reserved room
  }

 private:
  std::size_t block_;
  std::size_t max_free_;
  std::vector<std::unique_ptr<char[]>> free_;
};

}  // namespace gateway
