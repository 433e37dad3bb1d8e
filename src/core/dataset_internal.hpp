// Shared by the dataset readers (dataset*.cpp); not part of the public interface.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hrvq/dataset.hpp"

namespace hrvq::detail {

// [start, end) of `total` items after `subset`; throws for an empty or out-of-range subset.
// `total` == 0 is "PATH: no images found".
std::pair<size_t, size_t> resolve_subset(const Subset& subset, size_t total, const std::string& path);

// "PATH: <strerror(errnum)>".
[[noreturn]] void throw_errno(const std::string& path, int errnum);

// Reads a whole regular file, refusing more than `max_bytes`.
std::vector<uint8_t> read_bounded(const std::string& path, uint64_t max_bytes);

std::string lower(std::string text);
std::string base_name(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);
// The entries of `dir` (without "." and ".."), with readdir's d_type (DT_UNKNOWN where
// the file system does not say). A failure to open or read the folder throws, naming it.
std::vector<std::pair<std::string, unsigned char>> read_directory(const std::string& dir);
bool is_image_name(const std::string& name);      // .png / .jpg / .jpeg, any case
bool is_idx_images_name(const std::string& name);  // *idx3-ubyte, optionally .gz

// The MNIST images file a folder stands for (see dataset.hpp); "" when it has none.
std::string find_mnist_file(const std::string& dir);
// The CIFAR-10 batch files a folder stands for, in order; empty when it has none.
std::vector<std::string> find_cifar_files(const std::string& dir);

std::unique_ptr<Dataset> open_mnist(const std::string& path, const Subset& subset);
std::unique_ptr<Dataset> open_cifar(const std::string& path, const Subset& subset);
std::unique_ptr<Dataset> open_folder(const std::string& path, DatasetKind kind, const Subset& subset);

}  // namespace hrvq::detail
