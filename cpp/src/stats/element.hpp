// Private: element loading for the storage types the kernels accept.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

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

// An element at an address that is not aligned for its type (a float32 view at an odd byte
// offset of a byte buffer, say). Alignment 1, so that pointers to it and arithmetic on them
// are well defined at any address; loads copy the bytes out (std::memcpy compiles to one
// unaligned load on x86), where dereferencing a misaligned float* would be undefined.
template <class T> struct unaligned {
  unsigned char bytes[sizeof(T)];
};
template <class T> struct element<unaligned<T>> {
  using compute = typename element<T>::compute;
  static compute load(const unaligned<T>* p) {
    T value;
    std::memcpy(&value, p->bytes, sizeof value);
    return element<T>::load(&value);
  }
};
static_assert(sizeof(unaligned<float>) == sizeof(float) && alignof(unaligned<float>) == 1);
static_assert(sizeof(unaligned<double>) == sizeof(double) && alignof(unaligned<double>) == 1);
static_assert(sizeof(unaligned<half_storage>) == 2 && alignof(unaligned<half_storage>) == 1);

// float32 storage, aligned or not: the SSE paths serve both, since _mm_loadu_ps reads 16
// bytes at any address (Intel's contract for the intrinsic; GCC and Clang implement it as a
// load through an alignment-1 vector type). f32_address gives the address it takes; scalar
// accesses still go through element<Storage>::load.
template <class Storage>
inline constexpr bool is_f32_storage =
    std::is_same_v<Storage, float> || std::is_same_v<Storage, unaligned<float>>;
template <class Storage> inline const float* f32_address(const Storage* p) {
  static_assert(is_f32_storage<Storage>);
  return reinterpret_cast<const float*>(p);
}

inline bool is_aligned(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

// Calls fn(static_cast<const Storage*>(nullptr)) for the storage type of `x`: the element
// type itself when x.data is aligned for it (the fast paths), unaligned<element type>
// otherwise. Strides are multiples of the item size (every caller checks that first), so
// x.data alone decides whether every element of `x` is aligned. No copy in either case.
template <class Fn> decltype(auto) dispatch_storage(const array_view& x, Fn&& fn) {
  switch (x.type) {
    case dtype::float16:
      if (is_aligned(x.data, alignof(half_storage)))
        return fn(static_cast<const half_storage*>(nullptr));
      return fn(static_cast<const unaligned<half_storage>*>(nullptr));
    case dtype::float64:
      if (is_aligned(x.data, alignof(double))) return fn(static_cast<const double*>(nullptr));
      return fn(static_cast<const unaligned<double>*>(nullptr));
    case dtype::float32:
    default:
      if (is_aligned(x.data, alignof(float))) return fn(static_cast<const float*>(nullptr));
      return fn(static_cast<const unaligned<float>*>(nullptr));
  }
}

// Writes `value` into element i of a float32/float64 output buffer (at any alignment: the
// Python bindings allocate aligned results, C++ callers may pass any buffer).
inline void store(output_view out, std::int64_t i, double value) {
  auto* bytes = static_cast<unsigned char*>(out.data);
  if (out.type == dtype::float64) {
    std::memcpy(bytes + i * static_cast<std::int64_t>(sizeof value), &value, sizeof value);
  } else {
    const auto narrow = static_cast<float>(value);
    std::memcpy(bytes + i * static_cast<std::int64_t>(sizeof narrow), &narrow, sizeof narrow);
  }
}

}  // namespace fastpot::detail
