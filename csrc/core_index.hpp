// The Cython core's C++ indexes: see csrc/core/core.hpp (one header per index).
#pragma once

#include "core/core.hpp"
