// image.hpp and bitstream.hpp each define hrvq::kMaxImagePixels (both 2^28), so a file
// that includes both fails to compile. Until one of them defers to the other, files
// that need both include them through here, which renames bitstream.hpp's copy.
#pragma once
#include "hrvq/image.hpp"
#define kMaxImagePixels kMaxBitstreamImagePixels
#include "hrvq/bitstream.hpp"
#undef kMaxImagePixels
#include "hrvq/codec.hpp"
