// The whole C surface of rabbitmq-c 0.11 that Sampark uses. Only SamparkAMQP imports it.
//
// Swift cannot call variadic C functions (amqp_login) nor import macros that cast
// (AMQP_BASIC_DELIVER_METHOD is `((amqp_method_number_t)0x003C003C)`), so both are
// re-stated here as static inline functions and constants.
#ifndef SAMPARK_CRABBITMQ_SHIM_H
#define SAMPARK_CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

static const amqp_method_number_t SAMPARK_CONNECTION_CLOSE = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t SAMPARK_CONNECTION_CLOSE_OK = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t SAMPARK_CONNECTION_BLOCKED = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t SAMPARK_CONNECTION_UNBLOCKED = AMQP_CONNECTION_UNBLOCKED_METHOD;
static const amqp_method_number_t SAMPARK_CHANNEL_CLOSE = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t SAMPARK_CHANNEL_CLOSE_OK = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t SAMPARK_BASIC_DELIVER = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t SAMPARK_BASIC_ACK = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t SAMPARK_BASIC_NACK = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t SAMPARK_BASIC_RETURN = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t SAMPARK_BASIC_CANCEL = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t SAMPARK_BASIC_CANCEL_OK = AMQP_BASIC_CANCEL_OK_METHOD;
static const amqp_method_number_t SAMPARK_BASIC_CONSUME_OK = AMQP_BASIC_CONSUME_OK_METHOD;
static const amqp_method_number_t SAMPARK_CHANNEL_FLOW = AMQP_CHANNEL_FLOW_METHOD;

/// amqp_login is variadic. This wrapper logs in with PLAIN and announces the client
/// capabilities Sampark relies on; without `connection.blocked` in them the broker never
/// tells us it is blocking publishers, and without `consumer_cancel_notify` a deleted queue
/// would silently starve a consumer.
static inline amqp_rpc_reply_t sampark_login(amqp_connection_state_t state,
                                             const char *vhost, int channel_max,
                                             int frame_max, int heartbeat,
                                             const char *user, const char *password,
                                             const char *connection_name) {
  amqp_table_entry_t capabilities[5];
  const char *names[5] = {"publisher_confirms", "consumer_cancel_notify",
                          "connection.blocked", "basic.nack",
                          "authentication_failure_close"};
  for (int i = 0; i < 5; i++) {
    capabilities[i].key = amqp_cstring_bytes(names[i]);
    capabilities[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[i].value.value.boolean = 1;
  }
  amqp_table_entry_t props[3];
  props[0].key = amqp_cstring_bytes("capabilities");
  props[0].value.kind = AMQP_FIELD_KIND_TABLE;
  props[0].value.value.table.num_entries = 5;
  props[0].value.value.table.entries = capabilities;
  props[1].key = amqp_cstring_bytes("connection_name");
  props[1].value.kind = AMQP_FIELD_KIND_UTF8;
  props[1].value.value.bytes = amqp_cstring_bytes(connection_name);
  props[2].key = amqp_cstring_bytes("product");
  props[2].value.kind = AMQP_FIELD_KIND_UTF8;
  props[2].value.value.bytes = amqp_cstring_bytes("sampark");
  amqp_table_t table;
  table.num_entries = 3;
  table.entries = props;
  return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat,
                                    &table, AMQP_SASL_METHOD_PLAIN, user, password);
}

/// Reads one frame if one arrives within `timeout_us` microseconds. A timeout of zero
/// would make rabbitmq-c skip its receive-heartbeat check, so callers pass at least 1.
static inline int sampark_wait_frame(amqp_connection_state_t state, amqp_frame_t *frame,
                                     long timeout_us) {
  struct timeval tv;
  tv.tv_sec = timeout_us / 1000000;
  tv.tv_usec = timeout_us % 1000000;
  return amqp_simple_wait_frame_noblock(state, frame, &tv);
}

static inline amqp_bytes_t sampark_bytes(const void *bytes, size_t len) {
  amqp_bytes_t b;
  b.len = len;
  b.bytes = (void *)bytes;
  return b;
}

static inline amqp_bytes_t sampark_empty_bytes(void) { return amqp_empty_bytes; }
static inline amqp_table_t sampark_empty_table(void) { return amqp_empty_table; }

#endif
