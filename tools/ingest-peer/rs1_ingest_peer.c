/*
 * rs1-ingest-peer: the ingest a user would build instead of the plugin, for
 * the bench's scenario (h). A libmosquitto client of a vanilla mosquitto
 * (dynamic-security plugin for logins and ACLs) with a persistent session
 * and a QoS 1 subscription to opticworks/+/telemetry/#, writing every
 * message as a row of its own SQLite database with the plugin's durability:
 * WAL, synchronous=FULL, one transaction (one fsync) per batch, a batch
 * committed when its first row has waited --flush-ms or when it holds
 * --batch rows.
 *
 * What it cannot do: libmosquitto sends the PUBACK before it calls
 * on_message, so a message is acknowledged before it is written, and the
 * rows of the batch in memory are lost when the process is killed.
 *
 *   rs1-ingest-peer --port N --username U --password P --db FILE
 *                   [--host H] [--client-id ID] [--flush-ms 100] [--batch 10000]
 *
 * Prints "subscribed" once the broker granted the subscription, and at exit
 * (SIGTERM/SIGINT: the batch is committed first) "committed N".
 */
#include <errno.h>
#include <mosquitto.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct row {
  char *device_id;
  char *metric;
  int64_t received_at_ms;
  char *payload;
  int payload_len;
};

struct peer {
  sqlite3 *db;
  sqlite3_stmt *insert;
  struct row *rows;
  size_t count;
  size_t capacity;
  size_t batch_max;
  int64_t first_ms; /* steady-clock ms the batch's first row arrived */
  int flush_ms;
  long long committed;
};

static volatile sig_atomic_t stopping = 0;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int64_t steady_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "rs1-ingest-peer: %s: %s\n", what, why);
  exit(1);
}

static void exec_sql(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die(sql, err ? err : "failed");
}

static char *copy(const char *s, size_t n) {
  char *out = malloc(n + 1);
  if (!out) die("memory", "out of memory");
  memcpy(out, s, n);
  out[n] = '\0';
  return out;
}

/* One transaction for the batch; a busy or failing disk is retried. */
static void flush(struct peer *p) {
  if (p->count == 0) return;
  for (;;) {
    int rc = sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    size_t i = 0;
    for (; rc == SQLITE_OK && i < p->count; ++i) {
      const struct row *r = &p->rows[i];
      sqlite3_bind_text(p->insert, 1, r->device_id, -1, SQLITE_STATIC);
      sqlite3_bind_text(p->insert, 2, r->metric, -1, SQLITE_STATIC);
      sqlite3_bind_int64(p->insert, 3, r->received_at_ms);
      sqlite3_bind_text(p->insert, 4, r->payload, r->payload_len, SQLITE_STATIC);
      rc = sqlite3_step(p->insert) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(p->db);
      sqlite3_reset(p->insert);
    }
    if (rc == SQLITE_OK) rc = sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK) break;
    fprintf(stderr, "rs1-ingest-peer: commit failed, retrying: %s\n", sqlite3_errmsg(p->db));
    sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
    struct timespec wait = {0, 50 * 1000000};
    nanosleep(&wait, NULL);
  }
  for (size_t i = 0; i < p->count; ++i) {
    free(p->rows[i].device_id);
    free(p->rows[i].metric);
    free(p->rows[i].payload);
  }
  p->committed += (long long)p->count;
  p->count = 0;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc) {
  (void)obj;
  if (rc != 0) die("connect refused", mosquitto_connack_string(rc));
  if (mosquitto_subscribe(mosq, NULL, "opticworks/+/telemetry/#", 1) != MOSQ_ERR_SUCCESS) {
    die("subscribe", "failed");
  }
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted) {
  (void)mosq;
  (void)obj;
  (void)mid;
  if (count != 1 || granted[0] != 1) die("subscribe", "not granted at QoS 1");
  printf("subscribed\n");
  fflush(stdout);
}

/* opticworks/<device>/telemetry/<metric...> */
static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m) {
  (void)mosq;
  struct peer *p = obj;
  const char *prefix = "opticworks/";
  const size_t prefix_len = strlen(prefix);
  if (strncmp(m->topic, prefix, prefix_len) != 0) return;
  const char *device = m->topic + prefix_len;
  const char *slash = strchr(device, '/');
  if (!slash || strncmp(slash, "/telemetry/", 11) != 0 || slash[11] == '\0') return;
  if (p->count == p->capacity) {
    p->capacity = p->capacity ? p->capacity * 2 : 1024;
    p->rows = realloc(p->rows, p->capacity * sizeof *p->rows);
    if (!p->rows) die("memory", "out of memory");
  }
  if (p->count == 0) p->first_ms = steady_ms();
  struct row *r = &p->rows[p->count++];
  r->device_id = copy(device, (size_t)(slash - device));
  r->metric = copy(slash + 11, strlen(slash + 11));
  r->received_at_ms = unix_ms();
  r->payload = copy(m->payload ? m->payload : "", (size_t)m->payloadlen);
  r->payload_len = m->payloadlen;
  if (p->count >= p->batch_max) flush(p);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *username = NULL, *password = NULL, *db_path = NULL;
  const char *client_id = "rs1-ingest-peer";
  int port = 1883;
  struct peer p = {0};
  p.flush_ms = 100;
  p.batch_max = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--host")) host = v;
    else if (!strcmp(k, "--port")) port = atoi(v);
    else if (!strcmp(k, "--username")) username = v;
    else if (!strcmp(k, "--password")) password = v;
    else if (!strcmp(k, "--client-id")) client_id = v;
    else if (!strcmp(k, "--db")) db_path = v;
    else if (!strcmp(k, "--flush-ms")) p.flush_ms = atoi(v);
    else if (!strcmp(k, "--batch")) p.batch_max = (size_t)atol(v);
    else die("unknown option", k);
  }
  if (argc % 2 == 0 || !db_path || port <= 0 || p.flush_ms <= 0 || p.batch_max == 0) {
    fprintf(stderr,
            "usage: rs1-ingest-peer --port N --username U --password P --db FILE [--host H] "
            "[--client-id ID] [--flush-ms MS] [--batch N]\n");
    return 2;
  }

  if (sqlite3_open(db_path, &p.db) != SQLITE_OK) die(db_path, sqlite3_errmsg(p.db));
  sqlite3_busy_timeout(p.db, 5000);
  exec_sql(p.db, "PRAGMA journal_mode=WAL");
  exec_sql(p.db, "PRAGMA synchronous=FULL");
  exec_sql(p.db,
           "CREATE TABLE IF NOT EXISTS telemetry (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, "
           "metric TEXT NOT NULL, received_at_ms INTEGER NOT NULL, payload TEXT NOT NULL)");
  exec_sql(p.db,
           "CREATE INDEX IF NOT EXISTS telemetry_device_time ON telemetry (device_id, "
           "received_at_ms)");
  if (sqlite3_prepare_v2(p.db,
                         "INSERT INTO telemetry (device_id, metric, received_at_ms, payload) "
                         "VALUES (?1, ?2, ?3, ?4)",
                         -1, &p.insert, NULL) != SQLITE_OK) {
    die("prepare", sqlite3_errmsg(p.db));
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  mosquitto_lib_init();
  /* A persistent session: the broker queues what arrives while it is away. */
  struct mosquitto *mosq = mosquitto_new(client_id, false, &p);
  if (!mosq) die("mosquitto_new", strerror(errno));
  if (username) mosquitto_username_pw_set(mosq, username, password);
  mosquitto_connect_callback_set(mosq, on_connect);
  mosquitto_subscribe_callback_set(mosq, on_subscribe);
  mosquitto_message_callback_set(mosq, on_message);
  int rc = mosquitto_connect(mosq, host, port, 60);
  if (rc != MOSQ_ERR_SUCCESS) die("connect", mosquitto_strerror(rc));
  while (!stopping) {
    rc = mosquitto_loop(mosq, 10, 1);
    if (rc != MOSQ_ERR_SUCCESS && !stopping) {
      if (rc == MOSQ_ERR_ERRNO && errno == EINTR) continue;
      die("connection", mosquitto_strerror(rc));
    }
    if (p.count > 0 && steady_ms() - p.first_ms >= p.flush_ms) flush(&p);
  }
  flush(&p);
  mosquitto_disconnect(mosq);
  mosquitto_destroy(mosq);
  mosquitto_lib_cleanup();
  free(p.rows);
  sqlite3_finalize(p.insert);
  sqlite3_close(p.db);
  printf("committed %lld\n", p.committed);
  return 0;
}
