// Per-sample extremes. The k smallest and the k largest values of a group are a few hundred
// values of hundreds of thousands: two candidate buffers with rising thresholds keep them
// while a vectorised compare skips almost every element, so the pass runs at memory speed
// (the technique of the tail-quantile reduction, quantile.cpp, on both sides at once).
#include "fastpot/stats/extremes.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define FASTPOT_HAVE_SSE2 1
#endif

#include "element.hpp"
#include "fastpot/errors.hpp"
#include "fastpot/layout.hpp"
#include "fastpot/parallel.hpp"

namespace fastpot {

std::int64_t extremes_count(std::int64_t size, double bound) {
  if (!(bound >= 0.0 && bound <= 0.5))
    throw invalid_argument("bound: " + std::to_string(bound) + " is outside [0, 0.5]");
  const double span = static_cast<double>(std::max<std::int64_t>(size - 1, 0));
  const auto kept = static_cast<std::int64_t>(std::floor(bound * span)) + 3;
  return std::min(size, kept);
}

namespace {

using detail::element;

// Keeps (a superset of) the k best values pushed, best by `Better` (std::greater: the
// largest; std::less: the smallest), with a threshold that a value must beat once the buffer
// was pruned. A value equal to the threshold is dropped: it cannot change the multiset of
// the k best values.
// Small k (per-channel groups: k is 3 up to 1000 values) keeps exactly the k best, sorted
// worst first, so that the threshold is always the k-th best seen: after the first k values
// only a value that enters the k best costs anything. Larger k buffers 4 k values between
// selections (nth_element), so that an insertion costs O(1) amortised.
template <class C, class Better> class candidates {
 public:
  static constexpr std::int64_t kSmall = 16;
  candidates(std::int64_t k, std::int64_t expected)
      : k_(k),
        small_(k <= kSmall),
        capacity_(static_cast<std::size_t>(small_ ? k : std::max<std::int64_t>(4 * k, 64))) {
    buffer_.reserve(std::min<std::size_t>(capacity_, static_cast<std::size_t>(expected)));
  }
  bool accepts(C v) const { return !pruned_ || Better()(v, threshold_); }
  bool pruned() const { return pruned_; }
  C threshold() const { return threshold_; }  // valid once pruned()
  void push(C v) {
    if (small_) {
      insert_sorted(v);
      return;
    }
    buffer_.push_back(v);
    if (buffer_.size() >= capacity_) prune();
  }
  void absorb(const candidates& other) {
    for (C v : other.buffer_)
      if (accepts(v)) push(v);
  }
  void reset() {  // empty, keeping the allocation
    buffer_.clear();
    pruned_ = false;
  }
  // The k best values, ascending, into out[0, k). Needs at least k values pushed.
  template <class Out> void finish(Out&& out) {
    select();
    std::sort(buffer_.begin(), buffer_.begin() + k_);
    for (std::int64_t j = 0; j < k_; ++j) out(j, buffer_[static_cast<std::size_t>(j)]);
  }

 private:
  void select() {
    auto kth = buffer_.begin() + (k_ - 1);
    std::nth_element(buffer_.begin(), kth, buffer_.end(), Better());
  }
  void prune() {
    select();
    buffer_.resize(static_cast<std::size_t>(k_));
    threshold_ = buffer_.back();
    pruned_ = true;
  }
  // Small k: buffer_ sorted worst first; `v` is accepted (fewer than k, or beats the worst).
  void insert_sorted(C v) {
    const Better better;
    if (static_cast<std::int64_t>(buffer_.size()) < k_) {
      buffer_.push_back(v);
      std::size_t i = buffer_.size() - 1;
      for (; i > 0 && better(buffer_[i - 1], v); --i) buffer_[i] = buffer_[i - 1];
      buffer_[i] = v;
    } else {  // the worst (buffer_[0]) leaves
      std::size_t i = 0;
      for (; i + 1 < buffer_.size() && better(v, buffer_[i + 1]); ++i) buffer_[i] = buffer_[i + 1];
      buffer_[i] = v;
    }
    if (static_cast<std::int64_t>(buffer_.size()) == k_) {
      threshold_ = buffer_[0];
      pruned_ = true;
    }
  }
  std::int64_t k_;
  bool small_;
  std::size_t capacity_;
  std::vector<C> buffer_;
  C threshold_{};
  bool pruned_ = false;
};

template <class C> struct both_sides {
  candidates<C, std::less<C>> low;
  candidates<C, std::greater<C>> high;
  bool nan = false;
  both_sides(std::int64_t k, std::int64_t expected) : low(k, expected), high(k, expected) {}
  // false (and nan set) for a NaN: the group's result is decided.
  bool take(C v) {
    if (v != v) {
      nan = true;
      return false;
    }
    if (low.accepts(v)) low.push(v);
    if (high.accepts(v)) high.push(v);
    return true;
  }
  void absorb(const both_sides& other) {
    nan = nan || other.nan;
    low.absorb(other.low);
    high.absorb(other.high);
  }
  void reset() {
    low.reset();
    high.reset();
    nan = false;
  }
};

#if FASTPOT_HAVE_SSE2
// Index of the lowest set bit of a non-zero mask.
inline int lowest_bit(unsigned mask) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_ctz(mask);
#else
  int i = 0;
  while ((mask & 1u) == 0) {
    mask >>= 1;
    ++i;
  }
  return i;
#endif
}
#endif

template <class Storage, class C = typename element<Storage>::compute>
void scan_run(const Storage* p, std::int64_t n, std::int64_t stride, both_sides<C>& acc) {
  std::int64_t i = 0;
#if FASTPOT_HAVE_SSE2
  if constexpr (detail::is_f32_storage<Storage>) {  // float32, aligned or not
    if (stride == 1) {
      // Fill phase: everything enters until both sides have a threshold.
      for (; i < n && !(acc.low.pruned() && acc.high.pruned()); ++i)
        if (!acc.take(element<Storage>::load(p + i))) return;
      // Filter phase: 16 values per test; only the lanes that beat a threshold (or are NaN)
      // go through the scalar path. take() checks them again: a prune on the way only
      // raises the thresholds, so a lane that missed cannot have become a hit.
      for (; i + 16 <= n; i += 16) {
        const __m128 above = _mm_set1_ps(acc.high.threshold());
        const __m128 below = _mm_set1_ps(acc.low.threshold());
        unsigned hits = 0;
        for (int j = 0; j < 4; ++j) {
          const __m128 v = _mm_loadu_ps(detail::f32_address(p + i + 4 * j));
          const __m128 hit = _mm_or_ps(_mm_or_ps(_mm_cmpgt_ps(v, above), _mm_cmplt_ps(v, below)),
                                       _mm_cmpunord_ps(v, v));
          hits |= static_cast<unsigned>(_mm_movemask_ps(hit)) << (4 * j);
        }
        for (; hits != 0; hits &= hits - 1)
          if (!acc.take(element<Storage>::load(p + i + lowest_bit(hits)))) return;
      }
    }
  }
#endif
  for (; i < n; ++i)
    if (!acc.take(element<Storage>::load(p + i * stride))) return;
}

template <class C>
void emit(both_sides<C>& acc, std::int64_t group, std::int64_t k, output_view bottom,
          output_view top) {
  if (acc.nan) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (std::int64_t j = 0; j < k; ++j) {
      detail::store(bottom, group * k + j, nan);
      detail::store(top, group * k + j, nan);
    }
    return;
  }
  acc.low.finish([&](std::int64_t j, C v) { detail::store(bottom, group * k + j, v); });
  acc.high.finish([&](std::int64_t j, C v) { detail::store(top, group * k + j, v); });
}

template <class Storage>
void extremes_kernel(const array_view& x, const reduction_layout& l, std::int64_t k,
                     output_view bottom, output_view top) {
  using C = typename element<Storage>::compute;
  const auto* base = static_cast<const Storage*>(x.data);
  const std::int64_t groups = l.groups();
  const std::int64_t total = groups * l.group_size;

  if (l.channels_innermost) {
    // Work units are (sample, channel) groups in order; a thread walks the rows of each
    // sample in its slice and feeds only its channels, keeping memory access sequential.
    const int t = plan_threads(groups, total);
    run_parallel(t, groups, [&](std::int64_t begin, std::int64_t end, int) {
      std::int64_t g = begin;
      while (g < end) {
        const std::int64_t sample = g / l.channels;
        const std::int64_t c0 = g % l.channels;
        const std::int64_t c1 = std::min(l.channels, c0 + (end - g));
        std::vector<both_sides<C>> acc(static_cast<std::size_t>(c1 - c0),
                                       both_sides<C>(k, l.group_size));
        row_cursor cursor(l, sample * l.rows_per_group);
        for (std::int64_t r = 0; r < l.rows_per_group; ++r, cursor.next()) {
          const Storage* row = base + cursor.offset();
          for (std::int64_t c = c0; c < c1; ++c) {
            both_sides<C>& a = acc[static_cast<std::size_t>(c - c0)];
            if (!a.nan) a.take(element<Storage>::load(row + c * l.channel_stride));
          }
        }
        for (std::int64_t c = c0; c < c1; ++c)
          emit(acc[static_cast<std::size_t>(c - c0)], sample * l.channels + c, k, bottom, top);
        g = sample * l.channels + c1;
      }
    });
    return;
  }

  auto scan_rows = [&](std::int64_t first_row, std::int64_t rows, std::int64_t run_first,
                       std::int64_t run_last, both_sides<C>& acc) {
    row_cursor cursor(l, first_row);
    for (std::int64_t r = 0; r < rows && !acc.nan; ++r, cursor.next())
      scan_run<Storage>(base + cursor.offset() + run_first * l.run_stride, run_last - run_first,
                        l.run_stride, acc);
  };

  const int t = plan_threads(groups, total);
  if (t > 1 || groups >= num_threads() || total < 2 * kParallelMinElements) {
    run_parallel(t, groups, [&](std::int64_t begin, std::int64_t end, int) {
      both_sides<C> acc(k, l.group_size);  // one allocation per thread, reset per group
      for (std::int64_t g = begin; g < end; ++g) {
        acc.reset();
        scan_rows(g * l.rows_per_group, l.rows_per_group, 0, l.run_length, acc);
        emit(acc, g, k, bottom, top);
      }
    });
    return;
  }
  // Few large groups (one sample, per tensor): split each group over threads, merge the
  // candidate buffers.
  const int threads =
      std::max(1, std::min(num_threads(), static_cast<int>(total / kParallelMinElements)));
  for (std::int64_t g = 0; g < groups; ++g) {
    std::vector<both_sides<C>> parts(static_cast<std::size_t>(threads),
                                     both_sides<C>(k, l.group_size / threads + 1));
    const bool split_rows = l.rows_per_group >= threads;
    run_parallel(threads, threads, [&](std::int64_t begin, std::int64_t, int thread) {
      both_sides<C>& acc = parts[static_cast<std::size_t>(thread)];
      if (split_rows) {
        const std::int64_t r0 = l.rows_per_group * begin / threads;
        const std::int64_t r1 = l.rows_per_group * (begin + 1) / threads;
        scan_rows(g * l.rows_per_group + r0, r1 - r0, 0, l.run_length, acc);
      } else {
        const std::int64_t e0 = l.run_length * begin / threads;
        const std::int64_t e1 = l.run_length * (begin + 1) / threads;
        scan_rows(g * l.rows_per_group, l.rows_per_group, e0, e1, acc);
      }
    });
    for (int p = 1; p < threads; ++p) parts[0].absorb(parts[static_cast<std::size_t>(p)]);
    emit(parts[0], g, k, bottom, top);
  }
}

void check_output(const output_view& out, std::int64_t size, dtype input, const char* name) {
  if (out.data == nullptr || out.size != size)
    throw invalid_argument(std::string(name) + ": output buffer must hold " +
                           std::to_string(size) + " values");
  if (out.type != result_dtype(input))
    throw type_error(std::string(name) + ": output must be " + dtype_name(result_dtype(input)));
}

}  // namespace

std::int64_t extremes_per_sample(const array_view& x, std::int64_t k,
                                 std::optional<int> channel_axis, output_view bottom,
                                 output_view top) {
  const reduction_layout l = make_reduction_layout(x, channel_axis);
  if (k < 1 || k > l.group_size)
    throw invalid_argument("k: " + std::to_string(k) + " is outside [1, " +
                           std::to_string(l.group_size) + "] (the values of each group)");
  check_output(bottom, l.groups() * k, x.type, "bottom");
  check_output(top, l.groups() * k, x.type, "top");
  detail::dispatch_storage(x, [&](auto tag) {
    using Storage = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    extremes_kernel<Storage>(x, l, k, bottom, top);
  });
  return l.group_size;
}

}  // namespace fastpot
