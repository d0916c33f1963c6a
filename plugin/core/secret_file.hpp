// Files that hold a key (signing_key_file, api_key_file): read only when
// they are regular files that neither group nor world may access, and
// created 0600 with O_EXCL (two brokers starting at once never overwrite
// each other's key). Errors are std::runtime_error starting with `what`
// ("api_key_file /path: "), never quoting the file's contents.
#pragma once

#include <string>

namespace rs1 {

// The file's text (at most 1 MiB).
std::string read_secret_file(const std::string& path, const std::string& what);

// Writes `text` to a new file at `path` (fsync'd) unless a file is there.
void create_secret_file_if_absent(const std::string& path, const std::string& what,
                                  const std::string& text);

}  // namespace rs1
