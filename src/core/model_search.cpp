// Model search path; see include/hrvq/model_search.hpp for the order and why.
#include "hrvq/model_search.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <system_error>

#include "hrvq/error.hpp"

namespace fs = std::filesystem;

namespace hrvq {

namespace {

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool is_regular(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Identity of a path for de-duplication: its canonical form when it exists, else its
// lexical normal form (a folder that does not exist yet still appears once).
std::string identity(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  if (!ec) return c.string();
  return p.lexically_normal().string();
}

std::string executable_model_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.empty()) return {};
  return (exe.parent_path() / ".." / "share" / "hrvq" / "models").lexically_normal().string();
}

}  // namespace

std::vector<std::string> model_search_dirs() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("HRVQ_MODEL_PATH")) {
    std::string s(env);
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) candidates.push_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
#ifdef HRVQ_SOURCE_MODEL_DIR
  if (is_dir(HRVQ_SOURCE_MODEL_DIR)) candidates.push_back(HRVQ_SOURCE_MODEL_DIR);
#endif
  if (std::string d = executable_model_dir(); !d.empty()) candidates.push_back(d);
#ifdef HRVQ_INSTALL_MODEL_DIR
  candidates.push_back(HRVQ_INSTALL_MODEL_DIR);
#endif

  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& c : candidates)
    if (seen.insert(identity(c)).second) out.push_back(c);
  return out;
}

std::string find_model(const std::string& file_name) {
  const std::vector<std::string> dirs = model_search_dirs();
  for (const std::string& d : dirs) {
    const fs::path p = fs::path(d) / file_name;
    if (is_regular(p)) return p.string();
  }
  std::string searched;
  for (const std::string& d : dirs) searched += (searched.empty() ? "" : ", ") + d;
  throw Error(fmt::format("{}: no such model in the model search path ({}); set HRVQ_MODEL_PATH to the folder "
                          "holding it, or give the model file's path",
                          file_name, searched.empty() ? "no folders" : searched));
}

std::string default_model_path() { return find_model("photo.hrvqm"); }

std::vector<std::string> bundled_model_paths() {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& d : model_search_dirs()) {
    if (!is_dir(d)) continue;
    std::vector<fs::path> found;
    std::error_code ec;
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.extension() == ".hrvqm" && is_regular(p)) found.push_back(p);
    }
    std::sort(found.begin(), found.end());
    for (const fs::path& p : found)
      if (seen.insert(identity(p)).second) out.push_back(p.string());
  }
  return out;
}

}  // namespace hrvq
