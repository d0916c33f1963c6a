// RFC 9457 problem details (SPEC §10 "Errors"): every error the HTTP
// listener answers is application/problem+json {"type","title","status",
// "detail"}. Handlers set a status (and a detail); the listener's one error
// handler writes the body.
#pragma once

#include <string>

namespace httplib {
struct Response;
}

namespace rs1 {

constexpr const char* kProblemJson = "application/problem+json";

// The standard reason phrase of `status` ("Not Found"), "Error" if unknown.
const char* status_title(int status);

// Sets `res` to a problem with this status and detail (type about:blank,
// title the status's reason phrase).
void write_problem(httplib::Response& res, int status, const std::string& detail);

}  // namespace rs1
