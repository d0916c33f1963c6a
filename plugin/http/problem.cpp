#include "http/problem.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

namespace rs1 {

const char* status_title(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Content";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

void write_problem(httplib::Response& res, int status, const std::string& detail) {
  res.status = status;
  nlohmann::json body = {{"type", "about:blank"},
                         {"title", status_title(status)},
                         {"status", status},
                         {"detail", detail}};
  // replace: a detail quoting a client's bytes may not be UTF-8.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  kProblemJson);
}

}  // namespace rs1
