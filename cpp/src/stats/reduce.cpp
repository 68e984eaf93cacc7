#include "fastpot/stats/reduce.hpp"

#include <algorithm>
#include <cmath>
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
#include "kernels.hpp"

namespace fastpot {

statistic parse_statistic(const std::string& name) {
  if (name == "min") return statistic::min;
  if (name == "max") return statistic::max;
  if (name == "abs_max") return statistic::abs_max;
  if (name == "mean") return statistic::mean;
  if (name == "quantile") return statistic::quantile;
  if (name == "abs_quantile") return statistic::abs_quantile;
  throw invalid_argument("stat: unknown statistic '" + name +
                         "' (expected min, max, abs_max, mean, quantile or abs_quantile)");
}

const char* statistic_name(statistic stat) {
  switch (stat) {
    case statistic::min: return "min";
    case statistic::max: return "max";
    case statistic::abs_max: return "abs_max";
    case statistic::mean: return "mean";
    case statistic::quantile: return "quantile";
    case statistic::abs_quantile: return "abs_quantile";
  }
  return "?";
}

namespace {

using detail::element;

// Runs longer than this are split so that a few huge rows (one sample, per tensor) still
// spread over threads.
constexpr std::int64_t kRunChunk = std::int64_t{1} << 16;

// Visits the (row, piece) work units [begin, end): fn(group, pointer, length, stride) for
// channel-first layouts, fn(sample, row pointer) for channel-last ones.
template <class Storage, class RunFn>
void for_each_run(const reduction_layout& l, const Storage* base, std::int64_t pieces,
                  std::int64_t begin, std::int64_t end, RunFn&& fn) {
  std::int64_t row = begin / pieces;
  row_cursor cursor(l, row);
  for (std::int64_t unit = begin; unit < end; ++unit) {
    const std::int64_t unit_row = unit / pieces;
    while (row < unit_row) {
      cursor.next();
      ++row;
    }
    const std::int64_t piece = unit % pieces;
    const std::int64_t first = l.run_length * piece / pieces;
    const std::int64_t last = l.run_length * (piece + 1) / pieces;
    const std::int64_t group = cursor.sample() * l.channels + cursor.channel();
    fn(group, base + cursor.offset() + first * l.run_stride, last - first);
  }
}

// ---- min/max -----------------------------------------------------------------------------

template <class C> struct minmax_partial {
  std::vector<C> lo, hi;
  std::vector<unsigned char> nan;
  explicit minmax_partial(std::int64_t groups)
      : lo(groups, std::numeric_limits<C>::infinity()),
        hi(groups, -std::numeric_limits<C>::infinity()),
        nan(groups, 0) {}
};

template <class Storage, class C = typename element<Storage>::compute>
void minmax_run(const Storage* p, std::int64_t n, std::int64_t stride, C& lo, C& hi, bool& nan) {
  for (std::int64_t i = 0; i < n; ++i) {
    const C v = element<Storage>::load(p + i * stride);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    nan |= v != v;
  }
}

#if FASTPOT_HAVE_SSE2
// Contiguous float32 run (aligned or not): four independent vector accumulators (latency
// hiding); one unordered compare flags NaN in two vectors at once.
template <class Storage>
void minmax_run_f32(const Storage* p, std::int64_t n, float& lo, float& hi, bool& nan) {
  using detail::f32_address;
  __m128 lo0 = _mm_set1_ps(lo), lo1 = lo0, lo2 = lo0, lo3 = lo0;
  __m128 hi0 = _mm_set1_ps(hi), hi1 = hi0, hi2 = hi0, hi3 = hi0;
  __m128 bad = _mm_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128 a = _mm_loadu_ps(f32_address(p + i)), b = _mm_loadu_ps(f32_address(p + i + 4));
    const __m128 c = _mm_loadu_ps(f32_address(p + i + 8));
    const __m128 d = _mm_loadu_ps(f32_address(p + i + 12));
    lo0 = _mm_min_ps(lo0, a);
    lo1 = _mm_min_ps(lo1, b);
    lo2 = _mm_min_ps(lo2, c);
    lo3 = _mm_min_ps(lo3, d);
    hi0 = _mm_max_ps(hi0, a);
    hi1 = _mm_max_ps(hi1, b);
    hi2 = _mm_max_ps(hi2, c);
    hi3 = _mm_max_ps(hi3, d);
    bad = _mm_or_ps(bad, _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d)));
  }
  lo0 = _mm_min_ps(_mm_min_ps(lo0, lo1), _mm_min_ps(lo2, lo3));
  hi0 = _mm_max_ps(_mm_max_ps(hi0, hi1), _mm_max_ps(hi2, hi3));
  alignas(16) float los[4], his[4];
  _mm_store_ps(los, lo0);
  _mm_store_ps(his, hi0);
  for (int k = 0; k < 4; ++k) {
    lo = los[k] < lo ? los[k] : lo;
    hi = his[k] > hi ? his[k] : hi;
  }
  nan |= _mm_movemask_ps(bad) != 0;
  minmax_run<Storage>(p + i, n - i, 1, lo, hi, nan);
}
#endif

template <class Storage>
void minmax_kernel(const reduction_layout& l, const Storage* base,
                   minmax_partial<typename element<Storage>::compute>& out) {
  using C = typename element<Storage>::compute;
  const std::int64_t groups = l.groups();
  const std::int64_t total = groups * l.group_size;
  if (l.channels_innermost) {
    // Channel-last: each row updates every channel of one sample with unit-stride accesses.
    const std::int64_t rows = l.rows();
    const int t = plan_threads(rows, total);
    std::vector<minmax_partial<C>> partial(t > 1 ? t - 1 : 0, minmax_partial<C>(groups));
    run_parallel(t, rows, [&](std::int64_t begin, std::int64_t end, int thread) {
      minmax_partial<C>& acc = thread == 0 ? out : partial[thread - 1];
      row_cursor cursor(l, begin);
      for (std::int64_t r = begin; r < end; ++r, cursor.next()) {
        const Storage* row = base + cursor.offset();
        C* lo = acc.lo.data() + cursor.sample() * l.channels;
        C* hi = acc.hi.data() + cursor.sample() * l.channels;
        unsigned char* nan = acc.nan.data() + cursor.sample() * l.channels;
        const std::int64_t cs = l.channel_stride;
        std::int64_t c = 0;
#if FASTPOT_HAVE_SSE2
        if constexpr (detail::is_f32_storage<Storage>) {
          // Contiguous channels: four channels per instruction; NaN is rare, so its flags
          // are set on a branch.
          if (cs == 1) {
            for (; c + 4 <= l.channels; c += 4) {
              const __m128 v = _mm_loadu_ps(detail::f32_address(row + c));
              _mm_storeu_ps(lo + c, _mm_min_ps(_mm_loadu_ps(lo + c), v));
              _mm_storeu_ps(hi + c, _mm_max_ps(_mm_loadu_ps(hi + c), v));
              if (const int bad = _mm_movemask_ps(_mm_cmpunord_ps(v, v)))
                for (int k = 0; k < 4; ++k) nan[c + k] |= static_cast<unsigned char>((bad >> k) & 1);
            }
          }
        }
#endif
        for (; c < l.channels; ++c) {
          const C v = element<Storage>::load(row + c * cs);
          lo[c] = v < lo[c] ? v : lo[c];
          hi[c] = v > hi[c] ? v : hi[c];
          nan[c] |= static_cast<unsigned char>(v != v);
        }
      }
    });
    for (auto& p : partial)
      for (std::int64_t g = 0; g < groups; ++g) {
        out.lo[g] = std::min(out.lo[g], p.lo[g]);
        out.hi[g] = std::max(out.hi[g], p.hi[g]);
        out.nan[g] |= p.nan[g];
      }
    return;
  }
  const std::int64_t rows = l.rows();
  const std::int64_t pieces =
      (l.run_length > kRunChunk && rows < 4 * num_threads()) ? (l.run_length + kRunChunk - 1) / kRunChunk : 1;
  const std::int64_t units = rows * pieces;
  const int t = plan_threads(units, total);
  std::vector<minmax_partial<C>> partial(t > 1 ? t - 1 : 0, minmax_partial<C>(groups));
  run_parallel(t, units, [&](std::int64_t begin, std::int64_t end, int thread) {
    minmax_partial<C>& acc = thread == 0 ? out : partial[thread - 1];
    for_each_run(l, base, pieces, begin, end,
                 [&](std::int64_t g, const Storage* p, std::int64_t n) {
                   C lo = acc.lo[g], hi = acc.hi[g];
                   bool nan = acc.nan[g] != 0;
#if FASTPOT_HAVE_SSE2
                   if constexpr (detail::is_f32_storage<Storage>) {
                     if (l.run_stride == 1) {
                       minmax_run_f32<Storage>(p, n, lo, hi, nan);
                     } else {
                       minmax_run<Storage>(p, n, l.run_stride, lo, hi, nan);
                     }
                   } else
#endif
                   {
                     minmax_run<Storage>(p, n, l.run_stride, lo, hi, nan);
                   }
                   acc.lo[g] = lo;
                   acc.hi[g] = hi;
                   acc.nan[g] = nan ? 1 : 0;
                 });
  });
  for (auto& p : partial)
    for (std::int64_t g = 0; g < groups; ++g) {
      out.lo[g] = std::min(out.lo[g], p.lo[g]);
      out.hi[g] = std::max(out.hi[g], p.hi[g]);
      out.nan[g] |= p.nan[g];
    }
}

// ---- mean --------------------------------------------------------------------------------

template <class Storage>
double sum_run(const Storage* p, std::int64_t n, std::int64_t stride) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += element<Storage>::load(p + i * stride);
    s1 += element<Storage>::load(p + (i + 1) * stride);
    s2 += element<Storage>::load(p + (i + 2) * stride);
    s3 += element<Storage>::load(p + (i + 3) * stride);
  }
  for (; i < n; ++i) s0 += element<Storage>::load(p + i * stride);
  return (s0 + s1) + (s2 + s3);
}

#if FASTPOT_HAVE_SSE2
template <class Storage> double sum_run_f32(const Storage* p, std::int64_t n) {
  using detail::f32_address;
  __m128d a0 = _mm_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128 x = _mm_loadu_ps(f32_address(p + i)), y = _mm_loadu_ps(f32_address(p + i + 4));
    a0 = _mm_add_pd(a0, _mm_cvtps_pd(x));
    a1 = _mm_add_pd(a1, _mm_cvtps_pd(_mm_movehl_ps(x, x)));
    a2 = _mm_add_pd(a2, _mm_cvtps_pd(y));
    a3 = _mm_add_pd(a3, _mm_cvtps_pd(_mm_movehl_ps(y, y)));
  }
  alignas(16) double lanes[2];
  _mm_store_pd(lanes, _mm_add_pd(_mm_add_pd(a0, a1), _mm_add_pd(a2, a3)));
  return lanes[0] + lanes[1] + sum_run<Storage>(p + i, n - i, 1);
}
#endif

template <class Storage>
void mean_kernel(const reduction_layout& l, const Storage* base, std::vector<double>& sums) {
  const std::int64_t groups = l.groups();
  const std::int64_t total = groups * l.group_size;
  const std::int64_t rows = l.rows();
  if (l.channels_innermost) {
    const int t = plan_threads(rows, total);
    std::vector<std::vector<double>> partial(t > 1 ? t - 1 : 0, std::vector<double>(groups, 0.0));
    run_parallel(t, rows, [&](std::int64_t begin, std::int64_t end, int thread) {
      std::vector<double>& acc = thread == 0 ? sums : partial[thread - 1];
      row_cursor cursor(l, begin);
      for (std::int64_t r = begin; r < end; ++r, cursor.next()) {
        const Storage* row = base + cursor.offset();
        double* s = acc.data() + cursor.sample() * l.channels;
        for (std::int64_t c = 0; c < l.channels; ++c)
          s[c] += element<Storage>::load(row + c * l.channel_stride);
      }
    });
    for (auto& p : partial)
      for (std::int64_t g = 0; g < groups; ++g) sums[g] += p[g];
    return;
  }
  const std::int64_t pieces =
      (l.run_length > kRunChunk && rows < 4 * num_threads()) ? (l.run_length + kRunChunk - 1) / kRunChunk : 1;
  const std::int64_t units = rows * pieces;
  const int t = plan_threads(units, total);
  std::vector<std::vector<double>> partial(t > 1 ? t - 1 : 0, std::vector<double>(groups, 0.0));
  run_parallel(t, units, [&](std::int64_t begin, std::int64_t end, int thread) {
    std::vector<double>& acc = thread == 0 ? sums : partial[thread - 1];
    for_each_run(l, base, pieces, begin, end, [&](std::int64_t g, const Storage* p, std::int64_t n) {
#if FASTPOT_HAVE_SSE2
      if constexpr (detail::is_f32_storage<Storage>) {
        if (l.run_stride == 1) {
          acc[g] += sum_run_f32<Storage>(p, n);
          return;
        }
      }
#endif
      acc[g] += sum_run<Storage>(p, n, l.run_stride);
    });
  });
  for (auto& p : partial)
    for (std::int64_t g = 0; g < groups; ++g) sums[g] += p[g];
}

void check_output(const output_view& out, std::int64_t size, dtype input, const char* name) {
  if (out.data == nullptr || out.size != size)
    throw invalid_argument(std::string(name) + ": output buffer must hold " + std::to_string(size) +
                           " values");
  if (out.type != result_dtype(input))
    throw type_error(std::string(name) + ": output must be " + dtype_name(result_dtype(input)));
}

template <class Storage>
void minmax_outputs(const array_view& x, const reduction_layout& l, output_view* lo,
                    output_view* hi, output_view* abs_hi) {
  using C = typename element<Storage>::compute;
  minmax_partial<C> acc(l.groups());
  minmax_kernel<Storage>(l, static_cast<const Storage*>(x.data), acc);
  const C nan = std::numeric_limits<C>::quiet_NaN();
  for (std::int64_t g = 0; g < l.groups(); ++g) {
    const bool bad = acc.nan[g] != 0;
    if (lo) detail::store(*lo, g, bad ? nan : acc.lo[g]);
    if (hi) detail::store(*hi, g, bad ? nan : acc.hi[g]);
    // max|x| == max(max x, -min x) exactly: negation is exact. + 0 makes a zero +0.0 (a
    // tie of -0.0 and +0.0 may keep either), as |x| is in the reference.
    if (abs_hi) detail::store(*abs_hi, g, bad ? nan : std::max(acc.hi[g], -acc.lo[g]) + C(0));
  }
}

}  // namespace

std::int64_t reduce_output_size(const array_view& x, std::optional<int> channel_axis) {
  return make_reduction_layout(x, channel_axis).groups();
}

void reduce_per_sample(const array_view& x, statistic stat, std::optional<int> channel_axis,
                       double q, output_view out) {
  const reduction_layout l = make_reduction_layout(x, channel_axis);
  check_output(out, l.groups(), x.type, "out");
  switch (stat) {
    case statistic::min:
    case statistic::max:
    case statistic::abs_max:
      detail::dispatch_storage(x, [&](auto tag) {
        using Storage = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
        output_view* lo = stat == statistic::min ? &out : nullptr;
        output_view* hi = stat == statistic::max ? &out : nullptr;
        output_view* ab = stat == statistic::abs_max ? &out : nullptr;
        minmax_outputs<Storage>(x, l, lo, hi, ab);
      });
      return;
    case statistic::mean:
      detail::dispatch_storage(x, [&](auto tag) {
        using Storage = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
        std::vector<double> sums(l.groups(), 0.0);
        mean_kernel<Storage>(l, static_cast<const Storage*>(x.data), sums);
        for (std::int64_t g = 0; g < l.groups(); ++g)
          detail::store(out, g, sums[g] / static_cast<double>(l.group_size));
      });
      return;
    case statistic::quantile:
    case statistic::abs_quantile:
      if (!(q >= 0.0 && q <= 1.0))
        throw invalid_argument("q: " + std::to_string(q) + " is outside [0, 1]");
      detail::quantile_groups(x, l, q, stat == statistic::abs_quantile, out);
      return;
  }
}

void min_max_per_sample(const array_view& x, std::optional<int> channel_axis, output_view out_min,
                        output_view out_max, output_view out_abs_max) {
  const reduction_layout l = make_reduction_layout(x, channel_axis);
  check_output(out_min, l.groups(), x.type, "out_min");
  check_output(out_max, l.groups(), x.type, "out_max");
  check_output(out_abs_max, l.groups(), x.type, "out_abs_max");
  detail::dispatch_storage(x, [&](auto tag) {
    using Storage = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    minmax_outputs<Storage>(x, l, &out_min, &out_max, &out_abs_max);
  });
}

}  // namespace fastpot
