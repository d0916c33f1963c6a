// The one error every store interface throws, whatever the backend. `kind`
// says whether retrying can help: a full disk, an I/O error or a lock may
// pass; a constraint violation will not.
#pragma once

#include <stdexcept>
#include <string>

namespace rs1 {

class StoreError : public std::runtime_error {
 public:
  enum class Kind { transient, conflict, fatal };
  StoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

}  // namespace rs1
