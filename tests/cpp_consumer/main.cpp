// Uses fastpot::core the way a C++ tool would, and checks every result against a value
// computed here independently: by a plain loop over the same data, or by hand.
// Prints "fastpot consumer OK" and returns 0 when everything matches; otherwise prints one
// MISMATCH line per failed check and returns 1.
#include <fastpot/fastpot.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace {

using i64 = std::int64_t;

int g_failures = 0;

// Passes only if |got - want| <= tol; written so that a NaN result fails.
void expect_near(const std::string& what, double got, double want, double tol) {
  if (!(std::fabs(got - want) <= tol)) {
    std::fprintf(stderr, "MISMATCH %s: got %.9g, expected %.9g (tolerance %g)\n", what.c_str(),
                 got, want, tol);
    ++g_failures;
  }
}

void expect_equal(const std::string& what, i64 got, i64 want) {
  if (got != want) {
    std::fprintf(stderr, "MISMATCH %s: got %lld, expected %lld\n", what.c_str(),
                 static_cast<long long>(got), static_cast<long long>(want));
    ++g_failures;
  }
}

std::size_t at(i64 i) { return static_cast<std::size_t>(i); }

// The test tensor: [N, C, H, W], mixed signs, values spread without any per-channel pattern.
constexpr i64 kN = 2, kC = 3, kH = 4, kW = 5;
constexpr i64 kSpatial = kH * kW;

float input_value(i64 flat_index) {
  return static_cast<float>((flat_index * 37) % 101) - 50.0f;
}

std::vector<float> make_nchw() {
  std::vector<float> x(at(kN * kC * kSpatial));
  for (i64 i = 0; i < kN * kC * kSpatial; ++i) x[at(i)] = input_value(i);
  return x;
}

// Reference: max over H, W of each (sample, channel) of an NCHW buffer.
std::vector<float> loop_channel_max(const std::vector<float>& x) {
  std::vector<float> want(at(kN * kC));
  for (i64 s = 0; s < kN; ++s)
    for (i64 c = 0; c < kC; ++c) {
      const i64 base = (s * kC + c) * kSpatial;
      float m = x[at(base)];
      for (i64 k = 1; k < kSpatial; ++k) m = std::max(m, x[at(base + k)]);
      want[at(s * kC + c)] = m;
    }
  return want;
}

void check_per_channel_max() {
  const std::vector<float> x = make_nchw();
  const std::vector<float> want = loop_channel_max(x);

  // Contiguous NCHW view.
  const auto view = fastpot::array_view::contiguous(x.data(), fastpot::dtype::float32,
                                                    {kN, kC, kH, kW});
  std::vector<float> out(at(kN * kC), -1.0f);
  fastpot::reduce_per_sample(view, fastpot::statistic::max, std::optional<int>{1}, 0.0,
                             fastpot::output_view{out.data(), fastpot::dtype::float32, kN * kC});
  for (i64 i = 0; i < kN * kC; ++i)
    expect_near("per-channel max [" + std::to_string(i) + "]", out[at(i)], want[at(i)], 0.0);

  // The same tensor stored channels-last (NHWC), seen as NCHW through byte strides.
  std::vector<float> nhwc(x.size());
  for (i64 s = 0; s < kN; ++s)
    for (i64 c = 0; c < kC; ++c)
      for (i64 k = 0; k < kSpatial; ++k)
        nhwc[at((s * kSpatial + k) * kC + c)] = x[at((s * kC + c) * kSpatial + k)];
  const i64 f = static_cast<i64>(sizeof(float));
  fastpot::array_view strided;
  strided.data = nhwc.data();
  strided.type = fastpot::dtype::float32;
  strided.shape = {kN, kC, kH, kW};
  strided.strides = {kSpatial * kC * f, f, kW * kC * f, kC * f};
  std::fill(out.begin(), out.end(), -1.0f);
  fastpot::reduce_per_sample(strided, fastpot::statistic::max, std::optional<int>{1}, 0.0,
                             fastpot::output_view{out.data(), fastpot::dtype::float32, kN * kC});
  for (i64 i = 0; i < kN * kC; ++i)
    expect_near("strided per-channel max [" + std::to_string(i) + "]", out[at(i)], want[at(i)],
                0.0);
}

void check_min_max() {
  const std::vector<float> x = make_nchw();
  const auto view = fastpot::array_view::contiguous(x.data(), fastpot::dtype::float32,
                                                    {kN, kC, kH, kW});
  std::vector<float> lo(at(kN)), hi(at(kN)), abs_hi(at(kN));
  fastpot::min_max_per_sample(view, std::nullopt, {lo.data(), fastpot::dtype::float32, kN},
                              {hi.data(), fastpot::dtype::float32, kN},
                              {abs_hi.data(), fastpot::dtype::float32, kN});
  const i64 per_sample = kC * kSpatial;
  for (i64 s = 0; s < kN; ++s) {
    float mn = x[at(s * per_sample)], mx = mn, amx = std::fabs(mn);
    for (i64 k = 0; k < per_sample; ++k) {
      const float v = x[at(s * per_sample + k)];
      mn = std::min(mn, v);
      mx = std::max(mx, v);
      amx = std::max(amx, std::fabs(v));
    }
    const std::string tag = " of sample " + std::to_string(s);
    expect_near("min" + tag, lo[at(s)], mn, 0.0);
    expect_near("max" + tag, hi[at(s)], mx, 0.0);
    expect_near("abs_max" + tag, abs_hi[at(s)], amx, 0.0);
  }
}

void check_quantile() {
  // One sample holding 0..100 in descending order (the order must not matter). With 101
  // values, numpy.quantile's linear method puts q at rank 100 * q, so the answer is 100 * q.
  std::vector<double> ramp(101);
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<double>(100 - i);
  const auto view = fastpot::array_view::contiguous(ramp.data(), fastpot::dtype::float64, {1, 101});
  for (const double q : {0.0, 0.25, 0.5, 0.123, 1.0}) {
    double got = -1.0;
    fastpot::reduce_per_sample(view, fastpot::statistic::quantile, std::nullopt, q,
                               fastpot::output_view{&got, fastpot::dtype::float64, 1});
    expect_near("quantile " + std::to_string(q) + " of 0..100", got, 100.0 * q, 1e-12);
  }
}

void check_accumulator() {
  // abs_max aggregated with POT's mean: the mean of per-batch means, not of all samples.
  // Batch 1 has per-sample abs_max 4 and 3 (mean 3.5), batch 2 has 6: (3.5 + 6) / 2 = 4.75.
  fastpot::statistic_accumulator mean_acc(fastpot::statistic::abs_max, fastpot::aggregation::mean,
                                          std::nullopt, 0.0);
  const float batch1[] = {1.0f, -4.0f, 2.0f, 0.5f, 3.0f, -1.0f};
  const float batch2[] = {-6.0f, 2.0f, 1.0f};
  mean_acc.update(fastpot::array_view::contiguous(batch1, fastpot::dtype::float32, {2, 3}));
  mean_acc.update(fastpot::array_view::contiguous(batch2, fastpot::dtype::float32, {1, 3}));
  expect_equal("accumulator batches", mean_acc.batches(), 2);
  expect_equal("accumulator samples", mean_acc.samples(), 3);
  expect_equal("accumulator channels", mean_acc.channels(), 1);
  const std::vector<double> mean_result = mean_acc.result();
  expect_equal("accumulator result size", static_cast<i64>(mean_result.size()), 1);
  if (!mean_result.empty())
    expect_near("accumulator mean of per-batch abs_max", mean_result[0], 4.75, 0.0);

  // Per-channel max aggregated with max, fed the test tensor as two batches of one sample:
  // the result is the per-channel max over every sample, computed here by a loop.
  const std::vector<float> x = make_nchw();
  fastpot::statistic_accumulator max_acc(fastpot::statistic::max, fastpot::aggregation::max,
                                         std::optional<int>{1}, 0.0);
  for (i64 s = 0; s < kN; ++s)
    max_acc.update(fastpot::array_view::contiguous(x.data() + s * kC * kSpatial,
                                                   fastpot::dtype::float32, {1, kC, kH, kW}));
  const std::vector<float> per_sample = loop_channel_max(x);
  const std::vector<double> max_result = max_acc.result();
  expect_equal("per-channel accumulator result size", static_cast<i64>(max_result.size()), kC);
  for (i64 c = 0; c < kC && c < static_cast<i64>(max_result.size()); ++c) {
    float want = per_sample[at(c)];
    for (i64 s = 1; s < kN; ++s) want = std::max(want, per_sample[at(s * kC + c)]);
    expect_near("per-channel accumulator max [" + std::to_string(c) + "]", max_result[at(c)],
                want, 0.0);
  }
}

void check_fq_ranges() {
  using fastpot::fq_kind;
  using fastpot::fq_mode;
  const int bits = 8;

  // Symmetric weights: levels [-127, 127]; ranges [-M, M]. The second channel (M = 0.001) is
  // raised to the relative floor 0.01 * max(M) = 0.005.
  const auto wl = fastpot::compute_levels(fq_mode::symmetric, fq_kind::weights, bits, std::nullopt,
                                          std::nullopt);
  expect_equal("symmetric weight level_low", wl.level_low, -127);
  expect_equal("symmetric weight level_high", wl.level_high, 127);
  expect_equal("symmetric weight levels", wl.levels, 255);
  const float w_max[] = {0.5f, 0.001f};
  float w_low[2] = {}, w_high[2] = {};
  fastpot::fq_ranges(nullptr, w_max, 2, fq_mode::symmetric, fq_kind::weights, wl, bits, w_low,
                     w_high);
  expect_near("symmetric weights low", w_low[0], -0.5, 0.0);
  expect_near("symmetric weights high", w_high[0], 0.5, 0.0);
  expect_near("symmetric weights low (floored)", w_low[1], -0.005, 1e-9);
  expect_near("symmetric weights high (floored)", w_high[1], 0.005, 1e-9);

  // Activations use levels [-128, 127] (256 levels).
  const auto al = fastpot::compute_levels(fq_mode::asymmetric, fq_kind::activations, bits,
                                          std::nullopt, std::nullopt);
  expect_equal("activation level_low", al.level_low, -128);
  expect_equal("activation level_high", al.level_high, 127);
  expect_equal("activation levels", al.levels, 256);

  // Symmetric activations: [0, M] when every min >= 0, else [-M * 256 / 254, M].
  float lo = 0.0f, hi = 0.0f;
  const float nonneg_min = 0.0f, neg_min = -1.0f, act_max = 2.0f;
  fastpot::fq_ranges(&nonneg_min, &act_max, 1, fq_mode::symmetric, fq_kind::activations, al, bits,
                     &lo, &hi);
  expect_near("symmetric activations (min >= 0) low", lo, 0.0, 0.0);
  expect_near("symmetric activations (min >= 0) high", hi, 2.0, 0.0);
  fastpot::fq_ranges(&neg_min, &act_max, 1, fq_mode::symmetric, fq_kind::activations, al, bits,
                     &lo, &hi);
  expect_near("symmetric activations (min < 0) low", lo, -2.0 * 256.0 / 254.0, 1e-6);
  expect_near("symmetric activations (min < 0) high", hi, 2.0, 0.0);

  // Asymmetric activations (min -1, max 3): scale 255 / 4, zero point round(63.75) = 64.
  // Moving the low end gives 64 / (64 - 255) * 3 = -1.005236 (range 4.005); moving the high
  // end would give (64 - 255) / 64 * -1 = 2.984 (range 3.984). The wider one wins.
  const float a_min = -1.0f, a_max = 3.0f;
  fastpot::fq_ranges(&a_min, &a_max, 1, fq_mode::asymmetric, fq_kind::activations, al, bits, &lo,
                     &hi);
  expect_near("asymmetric activations low", lo, 64.0 / (64.0 - 255.0) * 3.0, 1e-6);
  expect_near("asymmetric activations low (rounded)", lo, -1.005236, 1e-5);
  expect_near("asymmetric activations high", hi, 3.0, 0.0);
}

void check_errors() {
  // Bad arguments reach the caller as fastpot::invalid_argument, not as a crash.
  const std::vector<float> x = make_nchw();
  const auto view = fastpot::array_view::contiguous(x.data(), fastpot::dtype::float32,
                                                    {kN, kC, kH, kW});
  std::vector<float> out(at(kN * kC));
  try {
    fastpot::reduce_per_sample(view, fastpot::statistic::max, std::optional<int>{7}, 0.0,
                               fastpot::output_view{out.data(), fastpot::dtype::float32, kN * kC});
    std::fprintf(stderr, "MISMATCH: channel_axis 7 of a 4-d input was accepted\n");
    ++g_failures;
  } catch (const fastpot::invalid_argument&) {
    // expected
  }
}

void check_version() {
#ifdef FASTPOT_CONSUMER_PACKAGE_VERSION
  // The version find_package() reported must be the one the installed headers declare.
  const std::string header_version = std::to_string(FASTPOT_VERSION_MAJOR) + "." +
                                     std::to_string(FASTPOT_VERSION_MINOR) + "." +
                                     std::to_string(FASTPOT_VERSION_PATCH);
  if (header_version != FASTPOT_CONSUMER_PACKAGE_VERSION) {
    std::fprintf(stderr, "MISMATCH version: headers say %s, the CMake package says %s\n",
                 header_version.c_str(), FASTPOT_CONSUMER_PACKAGE_VERSION);
    ++g_failures;
  }
#endif
}

}  // namespace

int main() {
  try {
    check_per_channel_max();
    check_min_max();
    check_quantile();
    check_accumulator();
    check_fq_ranges();
    check_errors();
    check_version();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fastpot consumer FAILED: unexpected exception: %s\n", e.what());
    return 1;
  }
  if (g_failures != 0) {
    std::fprintf(stderr, "fastpot consumer FAILED (%d mismatches)\n", g_failures);
    return 1;
  }
  std::printf("fastpot consumer OK\n");
  return 0;
}
