// The plugin's entry points: parse the options, build the Broker, register
// the callbacks. Nothing else lives here.
#include <exception>
#include <stdexcept>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/broker.hpp"

#define RS1_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using rs1::Broker;

// Every callback is noexcept at the C boundary: an exception becomes a log
// line and the safest answer for that event.
template <typename Event, int (Broker::*Handler)(Event&), int OnError>
int dispatch(int, void* event_data, void* userdata) noexcept {
  try {
    return (static_cast<Broker*>(userdata)->*Handler)(*static_cast<Event*>(event_data));
  } catch (const std::exception& e) {
    rs1::broker_log(rs1::LogLevel::error, std::string("rs1: internal error: ") + e.what());
  } catch (...) {
    rs1::broker_log(rs1::LogLevel::error, "rs1: internal error");
  }
  return OnError;
}

struct Callback {
  int event;
  MOSQ_FUNC_generic_callback fn;
};

// One table, used both to register and to unregister.
const Callback kCallbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, dispatch<mosquitto_evt_basic_auth, &Broker::on_basic_auth, MOSQ_ERR_AUTH>},
    {MOSQ_EVT_ACL_CHECK, dispatch<mosquitto_evt_acl_check, &Broker::on_acl_check, MOSQ_ERR_ACL_DENIED>},
    // A failed message is dropped, never answered with an error that would
    // disconnect the device.
    {MOSQ_EVT_MESSAGE, dispatch<mosquitto_evt_message, &Broker::on_message, MOSQ_ERR_ACL_DENIED>},
    {MOSQ_EVT_TICK, dispatch<mosquitto_evt_tick, &Broker::on_tick, MOSQ_ERR_SUCCESS>},
    {MOSQ_EVT_DISCONNECT, dispatch<mosquitto_evt_disconnect, &Broker::on_disconnect, MOSQ_ERR_SUCCESS>},
};

struct Instance {
  mosquitto_plugin_id_t* id;
  std::unique_ptr<Broker> broker;
  int registered = 0;
};

void unregister(Instance& inst) {
  for (int i = 0; i < inst.registered; ++i) {
    mosquitto_callback_unregister(inst.id, kCallbacks[i].event, kCallbacks[i].fn, nullptr);
  }
  inst.registered = 0;
}

}  // namespace

RS1_EXPORT int mosquitto_plugin_version(int supported_version_count,
                                        const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

RS1_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userdata,
                                     struct mosquitto_opt* options, int option_count) {
  try {
    std::vector<std::pair<std::string, std::string>> raw;
    for (int i = 0; i < option_count; ++i) {
      raw.emplace_back(options[i].key ? options[i].key : "", options[i].value ? options[i].value : "");
    }
    auto inst = std::make_unique<Instance>();
    inst->id = identifier;
    inst->broker = std::make_unique<Broker>(rs1::parse_options(raw));
    for (const auto& cb : kCallbacks) {
      int rc = mosquitto_callback_register(identifier, cb.event, cb.fn, nullptr, inst->broker.get());
      if (rc != MOSQ_ERR_SUCCESS) {
        unregister(*inst);
        throw std::runtime_error("cannot register callback for event " + std::to_string(cb.event) +
                                 ": error " + std::to_string(rc));
      }
      ++inst->registered;
    }
    *userdata = inst.release();
    return MOSQ_ERR_SUCCESS;
  } catch (const std::exception& e) {
    rs1::broker_log(rs1::LogLevel::error, std::string("rs1: cannot start: ") + e.what());
  } catch (...) {
    rs1::broker_log(rs1::LogLevel::error, "rs1: cannot start");
  }
  return MOSQ_ERR_INVAL;
}

RS1_EXPORT int mosquitto_plugin_cleanup(void* userdata, struct mosquitto_opt*, int) {
  std::unique_ptr<Instance> inst(static_cast<Instance*>(userdata));
  if (!inst) return MOSQ_ERR_SUCCESS;
  try {
    unregister(*inst);
    inst->broker.reset();  // flushes the writer
  } catch (const std::exception& e) {
    rs1::broker_log(rs1::LogLevel::error, std::string("rs1: error at shutdown: ") + e.what());
  } catch (...) {
    rs1::broker_log(rs1::LogLevel::error, "rs1: error at shutdown");
  }
  return MOSQ_ERR_SUCCESS;
}
