// Counts calls to the global operator new, so tests can assert that the hot path does not
// allocate. Defined in counting_allocator.cpp, which replaces the global allocation functions.
#pragma once

#include <cstddef>

namespace expertcast_test {

/// Number of global operator new calls (every form) since the program started.
std::size_t allocation_count() noexcept;

/// Allocations made while the object lived: `AllocationCounter c; work(); c.count() == 0`.
class AllocationCounter {
public:
    AllocationCounter() noexcept : start_(allocation_count()) {}
    std::size_t count() const noexcept { return allocation_count() - start_; }

private:
    std::size_t start_;
};

}  // namespace expertcast_test
