/*
 * The baseline for `make bench`: direct rabbitmq-c 0.11 calls, no Swift, doing what the
 * Swift client does, against the same broker and queue in the same run.
 *
 *   rabbitmq-c-baseline publish HOST PORT USER PASS QUEUE COUNT SIZE WINDOW
 *       persistent publishes under publisher confirms, at most WINDOW unconfirmed
 *   rabbitmq-c-baseline consume HOST PORT USER PASS QUEUE COUNT PREFETCH
 *       basic.consume with PREFETCH, one basic.ack per message
 *
 * Prints one line: `seconds=<elapsed> messages=<count>`.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what) {
  fprintf(stderr, "rabbitmq-c-baseline: %s\n", what);
  exit(1);
}

static void check_reply(amqp_rpc_reply_t reply, const char *what) {
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) die(what);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static amqp_connection_state_t open_connection(const char *host, int port, const char *user,
                                               const char *pass) {
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t *socket = amqp_tcp_socket_new(conn);
  if (!socket || amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) die("cannot connect");
  check_reply(amqp_login(conn, "/", 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, user, pass), "login");
  amqp_channel_open(conn, 1);
  check_reply(amqp_get_rpc_reply(conn), "channel.open");
  return conn;
}

static void publish(amqp_connection_state_t conn, const char *queue, long count, int size,
                    long window) {
  amqp_confirm_select(conn, 1);
  check_reply(amqp_get_rpc_reply(conn), "confirm.select");
  char *body = malloc(size);
  memset(body, 'x', size);
  amqp_basic_properties_t props;
  memset(&props, 0, sizeof props);
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG |
                 AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG;
  props.delivery_mode = 2;
  props.content_type = amqp_cstring_bytes("application/json");
  char id[64];
  uint64_t confirmed = 0;
  for (long i = 0; i < count; i++) {
    snprintf(id, sizeof id, "baseline-%ld", i);
    props.message_id = amqp_cstring_bytes(id);
    props.timestamp = (uint64_t)time(NULL);
    amqp_bytes_t b = {size, body};
    if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 1, 0, &props,
                           b) != AMQP_STATUS_OK)
      die("publish");
    while ((long)(i + 1 - confirmed) >= window || (i == count - 1 && confirmed < (uint64_t)count)) {
      amqp_frame_t frame;
      if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) die("wait frame");
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        amqp_basic_ack_t *ack = frame.payload.method.decoded;
        if (ack->multiple) confirmed = ack->delivery_tag;
        else confirmed++;
      } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        die("nack");
      }
      amqp_maybe_release_buffers(conn);
    }
  }
  free(body);
}

static void consume(amqp_connection_state_t conn, const char *queue, long count, int prefetch) {
  amqp_basic_qos(conn, 1, 0, prefetch, 0);
  check_reply(amqp_get_rpc_reply(conn), "basic.qos");
  amqp_basic_consume_ok_t *ok = amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue),
                                                    amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check_reply(amqp_get_rpc_reply(conn), "basic.consume");
  amqp_bytes_t tag = amqp_bytes_malloc_dup(ok->consumer_tag);
  for (long i = 0; i < count; i++) {
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(conn);
    amqp_rpc_reply_t reply = amqp_consume_message(conn, &envelope, NULL, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) die("consume");
    if (amqp_basic_ack(conn, 1, envelope.delivery_tag, 0) != AMQP_STATUS_OK) die("ack");
    amqp_destroy_envelope(&envelope);
  }
  /* A synchronous round trip after the last ack, as the Swift consumer's cancel does, so
     the broker has taken every ack before the channel closes. */
  amqp_basic_cancel(conn, 1, tag);
  check_reply(amqp_get_rpc_reply(conn), "basic.cancel");
  amqp_bytes_free(tag);
}

int main(int argc, char **argv) {
  if (argc < 9) die("usage: publish|consume HOST PORT USER PASS QUEUE COUNT SIZE|PREFETCH [WINDOW]");
  const char *mode = argv[1];
  amqp_connection_state_t conn = open_connection(argv[2], atoi(argv[3]), argv[4], argv[5]);
  long count = atol(argv[7]);
  double start = now();
  if (strcmp(mode, "publish") == 0) {
    if (argc < 10) die("publish needs WINDOW");
    publish(conn, argv[6], count, atoi(argv[8]), atol(argv[9]));
  } else if (strcmp(mode, "consume") == 0) {
    consume(conn, argv[6], count, atoi(argv[8]));
  } else {
    die("mode must be publish or consume");
  }
  double elapsed = now() - start;
  printf("seconds=%.6f messages=%ld\n", elapsed, count);
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  return 0;
}
