// AlignedBuffer: one page-aligned anonymous mapping, owned (RAII over mmap/munmap). Used for I/O
// buffers that O_DIRECT and io_uring buffer registration need: the start is aligned to the page
// size (4096 or more), so every multiple of 4096 inside it is too. Move-only; not thread-safe.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace shoal::engine {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer() { reset(); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }

  // Maps `size` bytes (zero-filled, faulted in now so the data path takes no page faults).
  // Returns an empty buffer (data() == nullptr) when the kernel refuses; errno says why.
  static AlignedBuffer map(size_t size) {
    AlignedBuffer b;
    if (size == 0) return b;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return b;
    b.data_ = static_cast<uint8_t*>(p);
    b.size_ = size;
    return b;
  }

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return data_ == nullptr; }

  void reset() {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace shoal::engine
