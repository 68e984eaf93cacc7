// Private: element loading for the storage types the kernels accept.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "fastpot/array_view.hpp"

namespace fastpot::detail {

// IEEE binary16 -> binary32, exact for every value (including subnormals, inf, NaN).
inline float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal half: normalise
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Storage type -> the type kernels compute in (float for half and float, double for double).
template <class Storage> struct element;
struct half_storage {
  std::uint16_t bits;
};
template <> struct element<half_storage> {
  using compute = float;
  static float load(const half_storage* p) { return half_bits_to_float(p->bits); }
};
template <> struct element<float> {
  using compute = float;
  static float load(const float* p) { return *p; }
};
template <> struct element<double> {
  using compute = double;
  static double load(const double* p) { return *p; }
};

// Calls fn.template operator()<Storage>() for the storage type of `type`.
template <class Fn> decltype(auto) dispatch_storage(dtype type, Fn&& fn) {
  switch (type) {
    case dtype::float16: return fn(static_cast<const half_storage*>(nullptr));
    case dtype::float64: return fn(static_cast<const double*>(nullptr));
    case dtype::float32: default: return fn(static_cast<const float*>(nullptr));
  }
}

// Writes `value` into element i of a float32/float64 output buffer.
inline void store(output_view out, std::int64_t i, double value) {
  if (out.type == dtype::float64)
    static_cast<double*>(out.data)[i] = value;
  else
    static_cast<float*>(out.data)[i] = static_cast<float>(value);
}

}  // namespace fastpot::detail
