// Uses fastpot::core as a C++ tool would, and checks every result against a value computed
// here by a plain loop or by hand.
#include <fastpot/fastpot.hpp>

#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

namespace {

int failures = 0;

void expect_near(const char* what, double got, double want, double tol) {
  if (!(std::fabs(got - want) <= tol)) {
    std::printf("MISMATCH %s: got %.9g, expected %.9g\n", what, got, want);
    ++failures;
  }
}

}  // namespace

int main() {
  // [N=2, C=3, H=4, W=5] with distinct values.
  const std::int64_t n = 2, c = 3, h = 4, w = 5;
  std::vector<float> x(static_cast<std::size_t>(n * c * h * w));
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((static_cast<int>(i) * 37) % 101) - 50.0f;
  const auto view = fastpot::array_view::contiguous(x.data(), fastpot::dtype::float32, {n, c, h, w});

  // Per-sample, per-channel max against a plain loop.
  std::vector<float> out(static_cast<std::size_t>(n * c));
  fastpot::reduce_per_sample(view, fastpot::statistic::max, 1, 0.0,
                             {out.data(), fastpot::dtype::float32, n * c});
  for (std::int64_t s = 0; s < n; ++s)
    for (std::int64_t ch = 0; ch < c; ++ch) {
      float want = -1e30f;
      for (std::int64_t k = 0; k < h * w; ++k) want = std::fmax(want, x[((s * c) + ch) * h * w + k]);
      expect_near("per-channel max", out[s * c + ch], want, 0.0);
    }

  // Fused min/max/abs_max per sample.
  std::vector<float> lo(n), hi(n), ab(n);
  fastpot::min_max_per_sample(view, std::nullopt, {lo.data(), fastpot::dtype::float32, n},
                              {hi.data(), fastpot::dtype::float32, n},
                              {ab.data(), fastpot::dtype::float32, n});
  for (std::int64_t s = 0; s < n; ++s) {
    float mn = 1e30f, mx = -1e30f;
    for (std::int64_t k = 0; k < c * h * w; ++k) {
      mn = std::fmin(mn, x[s * c * h * w + k]);
      mx = std::fmax(mx, x[s * c * h * w + k]);
    }
    expect_near("min", lo[s], mn, 0.0);
    expect_near("max", hi[s], mx, 0.0);
    expect_near("abs_max", ab[s], std::fmax(-mn, mx), 0.0);
  }

  // Quantile of 0..100 (one sample): q = 0.25 -> 25 exactly; q = 0.123 -> 12.3.
  std::vector<double> ramp(101);
  for (int i = 0; i < 101; ++i) ramp[i] = 100 - i;  // descending: order must not matter
  const auto ramp_view = fastpot::array_view::contiguous(ramp.data(), fastpot::dtype::float64, {1, 101});
  double q_out = 0.0;
  fastpot::reduce_per_sample(ramp_view, fastpot::statistic::quantile, std::nullopt, 0.25,
                             {&q_out, fastpot::dtype::float64, 1});
  expect_near("quantile 0.25", q_out, 25.0, 0.0);
  fastpot::reduce_per_sample(ramp_view, fastpot::statistic::quantile, std::nullopt, 0.123,
                             {&q_out, fastpot::dtype::float64, 1});
  expect_near("quantile 0.123", q_out, 12.3, 1e-12);

  // Streaming accumulator: abs_max aggregated with POT's mean over two batches of one sample.
  fastpot::statistic_accumulator acc(fastpot::statistic::abs_max, fastpot::aggregation::mean,
                                     std::nullopt, 0.0);
  const float b1[] = {1.0f, -4.0f}, b2[] = {2.0f, 0.5f};
  acc.update(fastpot::array_view::contiguous(b1, fastpot::dtype::float32, {1, 2}));
  acc.update(fastpot::array_view::contiguous(b2, fastpot::dtype::float32, {1, 2}));
  expect_near("accumulator mean of abs_max", acc.result().at(0), (4.0 + 2.0) / 2.0, 0.0);

  // FakeQuantize ranges: symmetric weights M = 0.5 -> [-0.5, 0.5], 255 levels.
  const auto wl = fastpot::compute_levels(fastpot::fq_mode::symmetric, fastpot::fq_kind::weights, 8,
                                          std::nullopt, std::nullopt);
  expect_near("weight levels", static_cast<double>(wl.levels), 255, 0);
  float m = 0.5f, il = 0, ih = 0;
  fastpot::fq_ranges(nullptr, &m, 1, fastpot::fq_mode::symmetric, fastpot::fq_kind::weights, wl, 8,
                     &il, &ih);
  expect_near("symmetric low", il, -0.5, 0.0);
  expect_near("symmetric high", ih, 0.5, 0.0);
  // Asymmetric activations (-1, 3): zero point 64 of 255 -> low end widened to -64/191 * 3.
  const auto al = fastpot::compute_levels(fastpot::fq_mode::asymmetric,
                                          fastpot::fq_kind::activations, 8, std::nullopt, std::nullopt);
  float amin = -1.0f, amax = 3.0f;
  fastpot::fq_ranges(&amin, &amax, 1, fastpot::fq_mode::asymmetric, fastpot::fq_kind::activations,
                     al, 8, &il, &ih);
  expect_near("asymmetric low", il, -64.0 / 191.0 * 3.0, 1e-6);
  expect_near("asymmetric high", ih, 3.0, 0.0);

  // Bad input reaches the caller as an exception, not a crash.
  try {
    fastpot::reduce_per_sample(view, fastpot::statistic::max, 7, 0.0,
                               {out.data(), fastpot::dtype::float32, n * c});
    std::printf("MISMATCH: channel_axis 7 was accepted\n");
    ++failures;
  } catch (const std::invalid_argument&) {
  }

  if (failures != 0) {
    std::printf("fastpot consumer FAILED (%d mismatches)\n", failures);
    return 1;
  }
  std::printf("fastpot consumer OK\n");
  return 0;
}
