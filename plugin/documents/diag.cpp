#include "documents/diag.hpp"

namespace rs1::doc {

Json diag_request_json(const DiagRequest& request) { return {{"request_id", request.request_id}}; }

Json diag_answer_json(const DiagRequest& request, std::string_view answer) {
  return {{"request_id", request.request_id}, {"answer", raw_object_or_null(answer)}};
}

}  // namespace rs1::doc
