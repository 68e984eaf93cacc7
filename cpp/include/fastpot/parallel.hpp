// The one place that decides how work is split over threads.
#pragma once

#include <cstdint>
#include <functional>

namespace fastpot {

// Threads a kernel may use (default: hardware concurrency, or FASTPOT_NUM_THREADS).
int num_threads();
// Set the thread budget; n <= 0 restores the default.
void set_num_threads(int n);

// While alive, kernels called on this thread run on it alone (plan_threads returns 1): for
// callers that are themselves one of many worker threads, e.g. inference callbacks.
class serial_kernels_scope {
 public:
  serial_kernels_scope();
  ~serial_kernels_scope();
  serial_kernels_scope(const serial_kernels_scope&) = delete;
  serial_kernels_scope& operator=(const serial_kernels_scope&) = delete;

 private:
  bool previous_;
};

// Inputs smaller than this many elements run on the calling thread: spawning threads costs
// more than the work saves.
constexpr std::int64_t kParallelMinElements = std::int64_t{1} << 18;

// How many threads to use for `units` independent work units covering `elements` elements.
int plan_threads(std::int64_t units, std::int64_t elements);

// Runs fn(begin, end, thread_index) on `threads` contiguous slices of [0, units). The calling
// thread takes slice 0. Exceptions from any slice are rethrown after all slices finish.
void run_parallel(int threads, std::int64_t units,
                  const std::function<void(std::int64_t, std::int64_t, int)>& fn);

}  // namespace fastpot
