#include "features/devices/provisioning.hpp"

namespace rs1 {

DeviceSecret provision_device(DeviceStore& store, const std::string& device_id,
                              const std::optional<std::string>& model, std::int64_t now_s) {
  DeviceSecret secret = new_device_secret();
  try {
    store.add_one(device_id, model, secret.secret_hash, now_s);
  } catch (const StoreError& e) {
    if (e.kind() != StoreError::Kind::conflict) throw;
    // The same insert fails for a taken device id and for an account name.
    throw DeviceIdTaken(device_id, store.get(device_id).has_value());
  }
  return secret;
}

}  // namespace rs1
