// Quantile reductions. Tail quantiles (the POT case, q = 1e-4 or 1 - 1e-4) need only the m
// largest (or smallest) values of a group, m = a handful: a candidate buffer with a rising
// threshold keeps them while a vectorised compare skips almost every element, so the pass
// runs at memory speed. Middle quantiles gather the group and use nth_element.
#include "fastpot/stats/quantile.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define FASTPOT_HAVE_SSE2 1
#endif

#include "element.hpp"
#include "fastpot/parallel.hpp"
#include "kernels.hpp"

namespace fastpot::detail {

quantile_position locate_quantile(std::int64_t n, double q) {
  quantile_position pos;
  const double h = static_cast<double>(n - 1) * q;
  const double lower = std::floor(h);
  pos.lower = std::min<std::int64_t>(static_cast<std::int64_t>(lower), n - 1);
  pos.upper = std::min<std::int64_t>(pos.lower + 1, n - 1);
  pos.fraction = h - lower;
  return pos;
}

double lerp_like_numpy(double a, double b, double t) {
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

namespace {

// NaN breaks the strict weak order std::nth_element needs (undefined behaviour, in practice an
// arbitrary answer); numpy.quantile and numpy.median return NaN for any NaN in the data.
bool any_nan(const std::vector<double>& values) {
  for (double v : values)
    if (v != v) return true;
  return false;
}

}  // namespace

double quantile_inplace(std::vector<double>& values, double q) {
  if (any_nan(values)) return std::numeric_limits<double>::quiet_NaN();
  return quantile_of_nan_free(values, q);
}

double median_inplace(std::vector<double>& values) {
  if (any_nan(values)) return std::numeric_limits<double>::quiet_NaN();
  return median_of_nan_free(values);
}

double quantile_of_nan_free(std::vector<double>& values, double q) {
  const auto n = static_cast<std::int64_t>(values.size());
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const quantile_position pos = locate_quantile(n, q);
  auto nth = values.begin() + pos.lower;
  std::nth_element(values.begin(), nth, values.end());
  const double a = *nth;
  const double b = pos.upper == pos.lower ? a : *std::min_element(nth + 1, values.end());
  return lerp_like_numpy(a, b, pos.fraction);
}

double median_of_nan_free(std::vector<double>& values) {
  // numpy.median: the middle value, or the mean of the two middle values.
  const auto n = static_cast<std::int64_t>(values.size());
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  auto mid = values.begin() + (n - 1) / 2;
  std::nth_element(values.begin(), mid, values.end());
  if (n % 2 == 1) return *mid;
  const double b = *std::min_element(mid + 1, values.end());
  return (*mid + b) / 2.0;
}

namespace {

// Keeps (a superset of) the m largest values pushed, with a threshold below which nothing
// can enter any more. Values equal to the threshold are dropped: they cannot change the
// multiset of the m largest values.
template <class C> class top_candidates {
 public:
  top_candidates(std::int64_t m, std::int64_t expected)
      : m_(m), capacity_(static_cast<std::size_t>(std::max<std::int64_t>(4 * m, 64))) {
    buffer_.reserve(std::min<std::size_t>(capacity_, static_cast<std::size_t>(expected)));
  }
  bool accepts(C v) const { return !pruned_ || v > threshold_; }
  C threshold() const { return pruned_ ? threshold_ : -std::numeric_limits<C>::infinity(); }
  bool pruned() const { return pruned_; }
  void push(C v) {
    buffer_.push_back(v);
    if (buffer_.size() >= capacity_) prune();
  }
  void absorb(const top_candidates& other) {
    for (C v : other.buffer_)
      if (accepts(v)) push(v);
  }
  // Ascending values at ranks (count - m) and (count - m + 1) of everything pushed.
  std::pair<C, C> lowest_two_of_top() {
    auto kth = buffer_.begin() + (m_ - 1);
    std::nth_element(buffer_.begin(), kth, buffer_.end(), std::greater<C>());
    const C a = *kth;
    const C b = m_ >= 2 ? *std::min_element(buffer_.begin(), kth) : a;
    return {a, b};
  }

 private:
  void prune() {
    auto kth = buffer_.begin() + (m_ - 1);
    std::nth_element(buffer_.begin(), kth, buffer_.end(), std::greater<C>());
    buffer_.resize(static_cast<std::size_t>(m_));
    threshold_ = buffer_.back();
    pruned_ = true;
  }
  std::int64_t m_;
  std::size_t capacity_;
  std::vector<C> buffer_;
  C threshold_{};
  bool pruned_ = false;
};

// Selection on one side: `sign` = +1 selects the top of f(x), -1 the top of -f(x) (the
// bottom), where f is identity or abs.
template <class C> struct side_transform {
  C sign;
  bool absolute;
  C operator()(C v) const { return sign * (absolute ? std::abs(v) : v); }
};

template <class Storage, class C = typename element<Storage>::compute>
void scan_run(const Storage* p, std::int64_t n, std::int64_t stride, const side_transform<C>& f,
              top_candidates<C>& top, bool& nan) {
  std::int64_t i = 0;
  auto take = [&](C x) {
    if (x != x) {
      nan = true;
      return false;
    }
    if (top.accepts(x)) top.push(x);
    return true;
  };
#if FASTPOT_HAVE_SSE2
  if constexpr (is_f32_storage<Storage>) {  // float32, aligned or not
    if (stride == 1) {
      // Fill phase: everything enters until the first prune sets a threshold.
      for (; i < n && !top.pruned(); ++i)
        if (!take(f(element<Storage>::load(p + i)))) return;
      // Filter phase: 16 values per compare; the rare hits go through the scalar path.
      const __m128 sign_bit = _mm_set1_ps(-0.0f);
      const __m128 flip = f.sign < 0 ? sign_bit : _mm_setzero_ps();
      for (; i + 16 <= n; i += 16) {
        const __m128 thr = _mm_set1_ps(top.threshold());
        __m128 v[4];
        for (int k = 0; k < 4; ++k) {
          v[k] = _mm_loadu_ps(f32_address(p + i + 4 * k));
          if (f.absolute) v[k] = _mm_andnot_ps(sign_bit, v[k]);
          v[k] = _mm_xor_ps(v[k], flip);
        }
        const __m128 hit = _mm_or_ps(
            _mm_or_ps(_mm_cmpgt_ps(v[0], thr), _mm_cmpgt_ps(v[1], thr)),
            _mm_or_ps(_mm_or_ps(_mm_cmpgt_ps(v[2], thr), _mm_cmpgt_ps(v[3], thr)),
                      _mm_or_ps(_mm_cmpunord_ps(v[0], v[1]), _mm_cmpunord_ps(v[2], v[3]))));
        if (_mm_movemask_ps(hit) == 0) continue;
        for (std::int64_t j = i; j < i + 16; ++j)
          if (!take(f(element<Storage>::load(p + j)))) return;
      }
    }
  }
#endif
  for (; i < n; ++i)
    if (!take(f(element<Storage>::load(p + i * stride)))) return;
}

struct group_plan {
  quantile_position pos;
  std::int64_t m = 1;  // candidates to keep on the chosen side
  bool from_top = true;
};

group_plan plan_group(std::int64_t n, double q) {
  group_plan plan;
  plan.pos = locate_quantile(n, q);
  const std::int64_t m_top = n - plan.pos.lower;  // ranks lower..n-1
  const std::int64_t m_bottom = plan.pos.upper + 1;  // ranks 0..upper
  plan.from_top = m_top <= m_bottom;
  plan.m = plan.from_top ? m_top : m_bottom;
  return plan;
}

template <class C> double finish(top_candidates<C>& top, const group_plan& plan) {
  auto [first, second] = top.lowest_two_of_top();
  double a, b;
  if (plan.from_top) {
    a = first;   // rank lower
    b = second;  // rank lower + 1 (== first when lower is the last rank)
  } else {  // the bottom side is chosen only when upper == lower + 1
    b = -static_cast<double>(first);   // rank upper
    a = -static_cast<double>(second);  // rank upper - 1
  }
  return lerp_like_numpy(a, b, plan.pos.fraction);
}

template <class Storage>
void quantile_kernel(const array_view& x, const reduction_layout& l, double q, bool absolute,
                     output_view out) {
  using C = typename element<Storage>::compute;
  const auto* base = static_cast<const Storage*>(x.data);
  const group_plan plan = plan_group(l.group_size, q);
  const side_transform<C> f{plan.from_top ? C(1) : C(-1), absolute};
  const std::int64_t groups = l.groups();
  const std::int64_t total = groups * l.group_size;
  const C nan_value = std::numeric_limits<C>::quiet_NaN();

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
        std::vector<top_candidates<C>> tops(c1 - c0, top_candidates<C>(plan.m, l.group_size));
        std::vector<unsigned char> nan(c1 - c0, 0);
        row_cursor cursor(l, sample * l.rows_per_group);
        for (std::int64_t r = 0; r < l.rows_per_group; ++r, cursor.next()) {
          const Storage* row = base + cursor.offset();
          for (std::int64_t c = c0; c < c1; ++c) {
            const C v = f(element<Storage>::load(row + c * l.channel_stride));
            if (v != v) nan[c - c0] = 1;
            else if (tops[c - c0].accepts(v)) tops[c - c0].push(v);
          }
        }
        for (std::int64_t c = c0; c < c1; ++c)
          store(out, sample * l.channels + c, nan[c - c0] ? nan_value : finish(tops[c - c0], plan));
        g = sample * l.channels + c1;
      }
    });
    return;
  }

  auto scan_rows = [&](std::int64_t first_row, std::int64_t rows, std::int64_t run_first,
                       std::int64_t run_last, top_candidates<C>& top, bool& nan) {
    row_cursor cursor(l, first_row);
    for (std::int64_t r = 0; r < rows && !nan; ++r, cursor.next())
      scan_run<Storage>(base + cursor.offset() + run_first * l.run_stride, run_last - run_first,
                        l.run_stride, f, top, nan);
  };

  const int t = plan_threads(groups, total);
  if (t > 1 || groups >= num_threads() || total < 2 * kParallelMinElements) {
    run_parallel(t, groups, [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t g = begin; g < end; ++g) {
        top_candidates<C> top(plan.m, l.group_size);
        bool nan = false;
        scan_rows(g * l.rows_per_group, l.rows_per_group, 0, l.run_length, top, nan);
        store(out, g, nan ? nan_value : finish(top, plan));
      }
    });
    return;
  }
  // Few large groups (one sample, per tensor): split each group over threads, merge the
  // candidate buffers.
  const int threads = std::max(1, std::min(num_threads(), static_cast<int>(total / kParallelMinElements)));
  for (std::int64_t g = 0; g < groups; ++g) {
    std::vector<top_candidates<C>> tops(threads, top_candidates<C>(plan.m, l.group_size / threads + 1));
    std::vector<unsigned char> nan(threads, 0);
    const bool split_rows = l.rows_per_group >= threads;
    run_parallel(threads, threads, [&](std::int64_t begin, std::int64_t, int thread) {
      bool bad = false;
      if (split_rows) {
        const std::int64_t r0 = l.rows_per_group * begin / threads;
        const std::int64_t r1 = l.rows_per_group * (begin + 1) / threads;
        scan_rows(g * l.rows_per_group + r0, r1 - r0, 0, l.run_length, tops[thread], bad);
      } else {
        const std::int64_t e0 = l.run_length * begin / threads;
        const std::int64_t e1 = l.run_length * (begin + 1) / threads;
        scan_rows(g * l.rows_per_group, l.rows_per_group, e0, e1, tops[thread], bad);
      }
      nan[thread] = bad ? 1 : 0;
    });
    bool bad = false;
    for (int k = 0; k < threads; ++k) bad |= nan[k] != 0;
    for (int k = 1; k < threads; ++k) tops[0].absorb(tops[k]);
    store(out, g, bad ? nan_value : finish(tops[0], plan));
  }
}

}  // namespace

void quantile_groups(const array_view& x, const reduction_layout& layout, double q, bool absolute,
                     output_view out) {
  dispatch_storage(x, [&](auto tag) {
    using Storage = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    quantile_kernel<Storage>(x, layout, q, absolute, out);
  });
}

}  // namespace fastpot::detail
