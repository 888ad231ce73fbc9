// One contiguous, 64-byte-aligned, zero-initialised block of numbers: the storage behind every
// per-layer table (a predictor's L tables live in one arena, not in L separate allocations).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "expertcast/version.hpp"

namespace expertcast {
EXPERTCAST_BEGIN_NAMESPACE
namespace detail {

template <class T>
class Arena {
    static_assert(std::is_trivially_copyable_v<T>, "arenas hold plain numbers");

public:
    static constexpr std::size_t alignment = 64;  // a cache line; also what AVX-512 loads like

    Arena() = default;
    explicit Arena(std::size_t size) : size_(size) {
        if (size_ != 0) {
            data_ =
                static_cast<T*>(::operator new (size_ * sizeof(T), std::align_val_t{alignment}));
            std::memset(static_cast<void*>(data_), 0, size_ * sizeof(T));
        }
    }
    Arena(const Arena& other) : Arena(other.size_) {
        if (size_ != 0) std::memcpy(static_cast<void*>(data_), other.data_, size_ * sizeof(T));
    }
    Arena(Arena&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    Arena& operator=(Arena other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        return *this;
    }
    ~Arena() {
        if (data_ != nullptr) ::operator delete (data_, std::align_val_t{alignment});
    }

    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    std::span<T> span(std::size_t offset, std::size_t count) noexcept {
        return {data_ + offset, count};
    }
    std::span<const T> span(std::size_t offset, std::size_t count) const noexcept {
        return {data_ + offset, count};
    }
    void fill(T value) noexcept { std::fill(data_, data_ + size_, value); }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace detail
EXPERTCAST_END_NAMESPACE
}  // namespace expertcast
