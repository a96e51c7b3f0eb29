/*
 * The trivial sink: accepts connections, answers CONNACK, SUBACK, PUBACK (PUBREC/PUBCOMP for
 * QoS 2, PINGRESP) and discards every message. Running a scenario's publishing side against it
 * measures what the load generator can push when the broker costs nothing: the ceiling printed
 * next to every result.
 *
 *   sink [port]     listens on 127.0.0.1:<port> (0: any), prints {"port":N}, runs until SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "buf.h"
#include "mqtt.h"
#include "process.h"

typedef struct {
  int fd;
  int out_blocked;
  buf_t in;
  buf_t out;
} peer_t;


static void close_peer(int ep, peer_t *p) {
  epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
  close(p->fd);
  buf_free(&p->in);
  buf_free(&p->out);
  free(p);
}

/* Answers every complete packet in the read buffer; returns 0 when the peer must be closed. */
static int answer(peer_t *p) {
  while (buf_len(&p->in) >= 2) {
    const uint8_t *at = p->in.data + p->in.start;
    size_t header;
    long total = mqtt_frame(at, buf_len(&p->in), &header);
    if (total < 0) return 0;
    if (total == 0) break;
    const uint8_t *body = at + header;
    size_t body_len = (size_t)total - header;
    uint8_t first = at[0];
    switch (first >> 4) {
      case MQTT_CONNECT:
        mqtt_short(buf_reserve(&p->out, 4), MQTT_CONNACK << 4, 0);
        p->out.end += 4;
        break;
      case MQTT_SUBSCRIBE: {
        if (body_len < 2) return 0;
        /* One granted QoS per filter: each filter is a length-prefixed string and a QoS byte. */
        size_t codes = 0;
        uint8_t granted[64];
        for (size_t i = 2; i + 2 <= body_len && codes < sizeof granted;) {
          size_t len = mqtt_get_u16(body + i);
          if (i + 2 + len >= body_len) return 0;
          granted[codes++] = body[i + 2 + len] & 0x03;
          i += 2 + len + 1;
        }
        uint8_t *out = buf_reserve(&p->out, MQTT_MAX_FIXED_HEADER + 2 + codes);
        size_t n = mqtt_put_fixed(out, MQTT_SUBACK << 4, 2 + codes);
        memcpy(out + n, body, 2);
        memcpy(out + n + 2, granted, codes);
        p->out.end += n + 2 + codes;
        break;
      }
      case MQTT_PUBLISH: {
        int qos = (first >> 1) & 0x03;
        if (qos == 0) break;
        if (body_len < 2) return 0;
        size_t topic_len = mqtt_get_u16(body);
        if (body_len < 2 + topic_len + 2) return 0;
        uint16_t packet_id = mqtt_get_u16(body + 2 + topic_len);
        uint8_t type = qos == 1 ? MQTT_PUBACK : MQTT_PUBREC;
        p->out.end += mqtt_short(buf_reserve(&p->out, 4), (uint8_t)(type << 4), packet_id);
        break;
      }
      case MQTT_PUBREL:
        if (body_len < 2) return 0;
        p->out.end += mqtt_short(buf_reserve(&p->out, 4), MQTT_PUBCOMP << 4, mqtt_get_u16(body));
        break;
      case MQTT_PINGREQ:
        p->out.end += mqtt_empty(buf_reserve(&p->out, 2), MQTT_PINGRESP);
        break;
      case MQTT_DISCONNECT:
        return 0;
      default:
        break;
    }
    p->in.start += (size_t)total;
  }
  return 1;
}

static void set_events(int ep, peer_t *p, int out_blocked) {
  if (p->out_blocked == out_blocked) return;
  p->out_blocked = out_blocked;
  struct epoll_event ev = {.events = EPOLLIN | (out_blocked ? EPOLLOUT : 0), .data.ptr = p};
  epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  setup_process();

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
    perror("sink: bind/listen");
    return 2;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  printf("{\"port\":%d}\n", ntohs(addr.sin_port));
  fflush(stdout);

  int ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event events[512];
  while (!stopping) {
    int n = epoll_wait(ep, events, 512, 200);
    for (int i = 0; i < n; i++) {
      peer_t *p = events[i].data.ptr;
      if (p == NULL) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          peer_t *np = calloc(1, sizeof *np);
          np->fd = fd;
          buf_init(&np->in, 4096);
          buf_init(&np->out, 1024);
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = np};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      if (events[i].events & EPOLLIN) {
        int r = buf_read(&p->in, p->fd, 65536);
        if (r == IO_CLOSED || (r == IO_DONE && !answer(p))) {
          close_peer(ep, p);
          continue;
        }
      }
      int w = buf_flush(&p->out, p->fd);
      if (w == IO_CLOSED) {
        close_peer(ep, p);
        continue;
      }
      set_events(ep, p, w == IO_AGAIN);
    }
  }
  return 0;
}
