// GET /api/v1/events: one stream holds one listener thread (of
// HttpLimits::max_threads) for as long as it lasts. The handler subscribes
// to the hub (503 when its 64 streams are open) and sets a chunked content
// provider: each call waits up to a second on the subscription, writes what
// came as `event: <kind>\ndata: <json>\n\n`, and a `: keepalive` comment
// after 15 s without anything. The stream ends when the client goes (a
// write fails; a write to a client that stopped reading waits the
// listener's write timeout), when the hub dropped the subscriber for
// falling behind, or when the broker stops (the hub wakes every stream).
#include "api/event_routes.hpp"

#include <chrono>
#include <memory>
#include <vector>

namespace rs1 {
namespace {

constexpr auto kEventsWaitSlice = std::chrono::seconds(1);
constexpr auto kEventsKeepalive = std::chrono::seconds(15);

struct EventStreamState {
  std::unique_ptr<EventSubscription> sub;
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<const std::string>> batch;
};

}  // namespace

void add_event_routes(ApiApp& app, EventHub& hub) {
  app.get("/api/v1/events", Need::service, [&hub](ApiCall& call, httplib::Response& res) {
    std::optional<std::string> device = call.param("device");
    if (device && device->empty()) {
      throw ApiError(400, "device: a device id, or leave the parameter out");
    }
    auto stream = std::make_shared<EventStreamState>();
    stream->sub = hub.subscribe(std::move(device));
    if (!stream->sub) {
      res.set_header("Retry-After", "5");
      throw ApiError(503, "too many event streams are open (at most 64)");
    }
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [stream](std::size_t, httplib::DataSink& sink) {
          stream->batch.clear();
          switch (stream->sub->wait(stream->batch, kEventsWaitSlice)) {
            case EventSubscription::Wait::events:
              for (const auto& e : stream->batch) {
                if (!sink.write(e->data(), e->size())) return false;
              }
              stream->last_write = std::chrono::steady_clock::now();
              return true;
            case EventSubscription::Wait::timeout:
              if (std::chrono::steady_clock::now() - stream->last_write >= kEventsKeepalive) {
                static constexpr char kKeepalive[] = ": keepalive\n\n";
                if (!sink.write(kKeepalive, sizeof kKeepalive - 1)) return false;
                stream->last_write = std::chrono::steady_clock::now();
              }
              return true;
            case EventSubscription::Wait::ended:
              break;
          }
          sink.done();
          return true;
        },
        [stream](bool) { stream->sub.reset(); });
  });
}

}  // namespace rs1
