// Whole-file reads and atomic writes. "-" means stdin / stdout.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hrvq {

// Reads at most `max_bytes`; a larger file is an error naming the path.
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes = 1ull << 32);

// Writes `bytes` to a temporary file beside `path` and renames it into place, so a
// failure never leaves a partial file. With overwrite == false an existing file is an
// error ("PATH: exists (use --force to overwrite)"). "-" writes to stdout.
void write_file_atomic(const std::string& path, const uint8_t* data, size_t size, bool overwrite = true);
inline void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes, bool overwrite = true) {
  write_file_atomic(path, bytes.data(), bytes.size(), overwrite);
}

bool file_exists(const std::string& path);

}  // namespace hrvq
