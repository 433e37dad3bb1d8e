// Where bundled models live, so `hrvq encode` works without naming a model file.
#pragma once
#include <string>
#include <vector>

namespace hrvq {

// Folders searched for models, in order:
//   1. each entry of $HRVQ_MODEL_PATH (colon-separated; empty entries are skipped),
//   2. the source tree's models/ (only if it exists: a build run from its tree),
//   3. <folder of the running executable>/../share/hrvq/models (a relocated install),
//   4. the install prefix's share/hrvq/models.
// Folders that name the same place are listed once.
std::vector<std::string> model_search_dirs();

// The first regular file named `file_name` in model_search_dirs(). Throws hrvq::Error
// naming the file and every folder searched if there is none.
std::string find_model(const std::string& file_name);

// find_model("photo.hrvqm"): the model used when none is given.
std::string default_model_path();

// Every *.hrvqm in model_search_dirs(), folder by folder, sorted by name within a
// folder; a file reachable through several folders (links, repeated entries) is listed
// once, where it is first found.
std::vector<std::string> bundled_model_paths();

}  // namespace hrvq
