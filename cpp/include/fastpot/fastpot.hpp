// Umbrella header for the fastpot C++ core: statistics kernels and FakeQuantize range math.
#pragma once

#define FASTPOT_VERSION_MAJOR 0
#define FASTPOT_VERSION_MINOR 1
#define FASTPOT_VERSION_PATCH 0

#include "fastpot/array_view.hpp"
#include "fastpot/errors.hpp"
#include "fastpot/fake_quantize.hpp"
#include "fastpot/parallel.hpp"
#include "fastpot/stats/accumulator.hpp"
#include "fastpot/stats/aggregate.hpp"
#include "fastpot/stats/extremes.hpp"
#include "fastpot/stats/recorder.hpp"
#include "fastpot/stats/reduce.hpp"
