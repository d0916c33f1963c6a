// The zone endpoints of the Device API (SPEC §10) as the editor uses them:
// load with the ETag, save with If-Match, the history and rollback. The
// ETag is the desired version, so it says nothing about whether the device
// has applied it: watching for the device's answer is a plain GET.

import { api } from '../api.js';

const zonesPath = (deviceId) => `/api/v1/devices/${encodeURIComponent(deviceId)}/zones`;

// {show, etag}: zone show (SPEC §8) and its ETag.
export async function loadZones(deviceId) {
  const res = await api('GET', zonesPath(deviceId));
  return { show: res.data, etag: res.headers.get('ETag') };
}

// Stores `config` as the next version, only if the desired version is still
// the one `etag` names. Rejects with an ApiProblem: 412 another save came
// first, 422 with `errors` by JSON pointer.
export async function saveZones(deviceId, config, etag) {
  const res = await api('PUT', zonesPath(deviceId), { body: config, headers: { 'If-Match': etag } });
  return { show: res.data, etag: res.headers.get('ETag') };
}

// [{version, created_at, status, error, acked_at, rollback_of}], newest first.
export async function loadHistory(deviceId) {
  const res = await api('GET', `${zonesPath(deviceId)}/history`);
  return res.data;
}

export async function rollBack(deviceId, version) {
  const res = await api('POST', `${zonesPath(deviceId)}/rollback`, { body: { version } });
  return { show: res.data, etag: res.headers.get('ETag') };
}

// Why the device rejected `version`, from the history (zone show has only
// the status): its error text, or null.
export async function rejectionReason(deviceId, version) {
  const history = await loadHistory(deviceId);
  const entry = history.find((v) => v.version === version);
  return entry && entry.error ? entry.error : null;
}
