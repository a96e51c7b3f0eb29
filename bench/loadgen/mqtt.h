/*
 * Minimal MQTT 3.1.1 framing shared by the load generator and the sink: only the packets they
 * send or answer, encoded straight into the caller's buffer so nothing is allocated per packet.
 * Not a general codec: no MQTT 5 properties, no will, no username/password.
 */
#ifndef FLUXMQ_BENCH_MQTT_H
#define FLUXMQ_BENCH_MQTT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
  MQTT_CONNECT = 1,
  MQTT_CONNACK = 2,
  MQTT_PUBLISH = 3,
  MQTT_PUBACK = 4,
  MQTT_PUBREC = 5,
  MQTT_PUBREL = 6,
  MQTT_PUBCOMP = 7,
  MQTT_SUBSCRIBE = 8,
  MQTT_SUBACK = 9,
  MQTT_PINGREQ = 12,
  MQTT_PINGRESP = 13,
  MQTT_DISCONNECT = 14,
};

/* Longest fixed header: one type byte and a four-byte Remaining Length. */
#define MQTT_MAX_FIXED_HEADER 5

static inline size_t mqtt_put_length(uint8_t *out, size_t value) {
  size_t n = 0;
  do {
    uint8_t byte = value % 128;
    value /= 128;
    out[n++] = value > 0 ? (byte | 0x80) : byte;
  } while (value > 0 && n < 4);
  return n;
}

static inline uint8_t *mqtt_put_u16(uint8_t *out, uint16_t value) {
  out[0] = (uint8_t)(value >> 8);
  out[1] = (uint8_t)value;
  return out + 2;
}

static inline uint8_t *mqtt_put_string(uint8_t *out, const char *s, size_t len) {
  out = mqtt_put_u16(out, (uint16_t)len);
  memcpy(out, s, len);
  return out + len;
}

static inline uint16_t mqtt_get_u16(const uint8_t *in) { return (uint16_t)((in[0] << 8) | in[1]); }

/* Fixed header for a packet whose variable part is `body` bytes long; returns bytes written. */
static inline size_t mqtt_put_fixed(uint8_t *out, uint8_t first, size_t body) {
  out[0] = first;
  return 1 + mqtt_put_length(out + 1, body);
}

static inline size_t mqtt_connect(uint8_t *out, const char *client_id, int clean, uint16_t keepalive) {
  size_t id_len = strlen(client_id);
  size_t body = 10 + 2 + id_len;
  uint8_t *p = out + mqtt_put_fixed(out, MQTT_CONNECT << 4, body);
  p = mqtt_put_string(p, "MQTT", 4);
  *p++ = 4; /* protocol level 3.1.1 */
  *p++ = clean ? 0x02 : 0x00;
  p = mqtt_put_u16(p, keepalive);
  p = mqtt_put_string(p, client_id, id_len);
  return (size_t)(p - out);
}

static inline size_t mqtt_subscribe(uint8_t *out, uint16_t packet_id, const char *filter, int qos) {
  size_t len = strlen(filter);
  /* [MQTT-3.8.1-1] SUBSCRIBE carries fixed-header flags 0b0010. */
  uint8_t *p = out + mqtt_put_fixed(out, (MQTT_SUBSCRIBE << 4) | 0x02, 2 + 2 + len + 1);
  p = mqtt_put_u16(p, packet_id);
  p = mqtt_put_string(p, filter, len);
  *p++ = (uint8_t)qos;
  return (size_t)(p - out);
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP and the 2-byte CONNACK share one shape: type, 2, two bytes. */
static inline size_t mqtt_short(uint8_t *out, uint8_t first, uint16_t value) {
  out[0] = first;
  out[1] = 2;
  mqtt_put_u16(out + 2, value);
  return 4;
}

static inline size_t mqtt_empty(uint8_t *out, int type) {
  out[0] = (uint8_t)(type << 4);
  out[1] = 0;
  return 2;
}

/*
 * Frames one packet at `in` (`avail` bytes). Returns the whole packet's length and sets
 * `*header` to the fixed header's length; 0 when more bytes are needed; -1 when the Remaining
 * Length is malformed.
 */
static inline long mqtt_frame(const uint8_t *in, size_t avail, size_t *header) {
  size_t value = 0;
  size_t multiplier = 1;
  for (size_t i = 1; i < MQTT_MAX_FIXED_HEADER; i++) {
    if (i >= avail) return 0;
    value += (size_t)(in[i] & 0x7f) * multiplier;
    if ((in[i] & 0x80) == 0) {
      *header = i + 1;
      return avail >= i + 1 + value ? (long)(i + 1 + value) : 0;
    }
    multiplier *= 128;
  }
  return -1;
}

#endif
