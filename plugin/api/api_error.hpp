// The Device API's error answer, apart from the application so that the
// request parsers (api_requests.hpp) need neither httplib nor a store.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rs1 {

// An answer that is not a success: status, detail and, for an invalid
// body, the fields at fault (JSON pointers into the body).
struct ApiError : std::runtime_error {
  struct Field {
    std::string pointer;
    std::string detail;
  };
  ApiError(int status, const std::string& detail, std::vector<Field> errors = {})
      : std::runtime_error(detail), status(status), errors(std::move(errors)) {}
  int status;
  std::vector<Field> errors;
};

}  // namespace rs1
