// hrvq reports every failure of input, file or configuration as hrvq::Error: one line,
// naming the file and the problem, fit to print after "hrvq: " and exit non-zero.
#pragma once
#include <stdexcept>
#include <string>

namespace hrvq {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace hrvq
