// Folders of PNG/JPEG images (FFHQ, ImageNet's train/<class>/, any tree), and a single
// image file as a one-item dataset. Files are found once, at open; decoding happens per
// item in Dataset::get, on the loader's threads.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fmt/format.h>

#include "core/dataset_internal.hpp"
#include "hrvq/error.hpp"

namespace hrvq::detail {
namespace {

// Larger image files than this are not photographs we can train on; refusing them
// bounds what one bad file can make a loader thread allocate.
constexpr uint64_t kMaxImageFileBytes = 1ull << 30;

class FolderDataset : public Dataset {
 public:
  FolderDataset(std::string root, std::vector<std::string> files, DatasetKind kind)
      : root_(std::move(root)), files_(std::move(files)), kind_(kind) {}

  size_t size() const override { return files_.size(); }
  Image get(size_t index) const override {
    std::string path = item_name(index);
    std::vector<uint8_t> bytes = read_bounded(path, kMaxImageFileBytes);
    return decode_image(bytes.data(), bytes.size(), path);
  }
  std::string item_name(size_t index) const override {
    if (index >= files_.size()) throw Error(fmt::format("{}: index {} out of range", root_, index));
    return root_.empty() ? files_[index] : join_path(root_, files_[index]);
  }
  DatasetKind kind() const override { return kind_; }

 private:
  std::string root_;                // "" when files_ holds the one path as given
  std::vector<std::string> files_;  // relative to root_
  DatasetKind kind_;
};

// Appends image files below dir (relative names prefixed by `rel`), depth first.
// Symbolic links to files are followed; links to folders are not, so a link cycle
// cannot make the walk endless.
void walk(const std::string& dir, const std::string& rel, std::vector<std::string>& out, int depth) {
  if (depth > 64) throw Error(fmt::format("{}: folders nested too deeply", dir));
  std::vector<std::pair<std::string, bool>> entries;  // name, is folder
  for (const auto& [name, d_type] : read_directory(dir)) {
    // Hidden entries: ".", "..", and things like macOS "._x.jpg" resource forks that
    // carry an image extension but are not images.
    if (name.empty() || name[0] == '.') continue;
    // d_type spares a stat() per file (ImageNet has 1.28 million); links and file
    // systems that do not fill it in are looked at.
    unsigned char type = d_type;
    if (type == DT_UNKNOWN) {
      struct stat lst;
      if (::lstat(join_path(dir, name).c_str(), &lst) != 0) continue;  // vanished while listing
      type = S_ISDIR(lst.st_mode) ? DT_DIR : S_ISREG(lst.st_mode) ? DT_REG : S_ISLNK(lst.st_mode) ? DT_LNK : DT_UNKNOWN;
    }
    if (type == DT_DIR) {
      entries.emplace_back(name, true);
    } else if (type == DT_REG && is_image_name(name)) {
      entries.emplace_back(name, false);
    } else if (type == DT_LNK && is_image_name(name)) {
      struct stat st;
      if (::stat(join_path(dir, name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) entries.emplace_back(name, false);
    }
  }
  for (const auto& [name, folder] : entries) {
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    if (folder)
      walk(join_path(dir, name), child_rel, out, depth + 1);
    else
      out.push_back(child_rel);
  }
}

}  // namespace

std::unique_ptr<Dataset> open_folder(const std::string& path, DatasetKind kind, const Subset& subset) {
  if (kind == DatasetKind::Auto) kind = DatasetKind::Folder;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno(path, errno);
  if (!S_ISDIR(st.st_mode)) {
    if (!is_image_name(path)) throw Error(fmt::format("{}: not a folder or a PNG/JPEG image", path));
    resolve_subset(subset, 1, path);
    return std::make_unique<FolderDataset>("", std::vector<std::string>{path}, kind);
  }
  std::vector<std::string> files;
  walk(path, "", files, 0);
  // Bytewise order of the whole relative path (std::string compares as unsigned char),
  // so the order does not depend on the file system or the locale.
  std::sort(files.begin(), files.end());
  auto [start, end] = resolve_subset(subset, files.size(), path);
  files.erase(files.begin() + static_cast<std::ptrdiff_t>(end), files.end());
  files.erase(files.begin(), files.begin() + static_cast<std::ptrdiff_t>(start));
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return std::make_unique<FolderDataset>(root, std::move(files), kind);
}

}  // namespace hrvq::detail
