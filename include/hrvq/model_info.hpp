// hrvq info MODEL: what a model file holds.
#pragma once
#include <string>

namespace hrvq {

// A readable description; width/height (0 = the training size) give the latent grid.
// A file whose checksum fails is still described, with the failure shown.
std::string describe_model(const std::string& path, int width, int height, bool json);

}  // namespace hrvq
