#include "http/ops_routes.hpp"

#include "http/problem.hpp"
#include "http/routes.hpp"

namespace rs1 {

void mount_ops_routes(Routes& routes, const MetricRegistry& metrics, HealthCheck health) {
  routes.get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  routes.get("/healthz",
             [health = std::move(health)](const httplib::Request&, httplib::Response& res) {
               std::string detail;
               if (health(detail)) {
                 res.set_content("ok\n", "text/plain");
               } else {
                 write_problem(res, 503, detail);
               }
             });
}

}  // namespace rs1
