/*
 * The bench load generator: MQTT 3.1.1 publishers and subscribers on one epoll loop, so the
 * generator stays far below the brokers' cost per message (its ceiling is measured against the
 * sink and printed next to every result).
 *
 *   loadgen run  [options]   publishers -> broker -> subscribers; prints one JSON object
 *   loadgen idle [options]   opens --conns idle connections, prints {"event":"ready",...},
 *                            holds them until stdin closes or SIGTERM, prints {"event":"done",...}
 *
 * Every payload starts with the publisher's index, its sequence number and the send time
 * (CLOCK_MONOTONIC ns; publishers and subscribers share the process and the clock), so the
 * subscribers count losses, duplicates and reorderings per publisher exactly and measure
 * end-to-end latency.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

#include "buf.h"
#include "mqtt.h"
#include "process.h"

#define PAYLOAD_HEADER 16     /* publisher index u32, sequence u32, send time u64 */
#define OUT_HIGH_WATER 65536  /* a publisher stops encoding when this much is unwritten */
#define READ_CHUNK 262144
#define HIST_BUCKETS (1u << 20) /* 1 µs buckets up to ~1 s; slower goes in the last one */
#define MAX_ERRORS 8
#define STALL_NS 500000000ull /* QoS 0: no progress this long, what is in transit is written off */
#define SLOW_NS 5000000ull    /* a delivery this late belongs to a slow episode */
#define EPISODE_GAP_NS 50000000ull /* slow deliveries sent closer than this are one episode */
#define MAX_EPISODES 16

enum { ROLE_PUB, ROLE_SUB, ROLE_IDLE };
enum { ST_CONNACK, ST_SUBACK, ST_READY, ST_LEAVING, ST_OFFLINE, ST_CLOSED };

typedef struct {
  const char *host;
  int pub_port;
  int sub_port;
  int pubs;
  int subs;
  const char *pub_topic;
  const char *sub_filter;
  int pub_qos;
  int sub_qos;
  int payload;
  double rate;
  int window;
  double warmup;
  double duration;
  double drain;
  double quiet;
  int e2e_window;
  const char *id;
  int persistent;
  int conns;
  uint64_t count;
} opts_t;

/* What one subscriber received from one publisher whose topic its filter matches. */
typedef struct {
  int expected;
  uint64_t *bits;
  uint32_t cap;
  uint32_t max_seq;
  uint64_t distinct;
} track_t;

typedef struct {
  uint32_t *counts;
  uint64_t total;
  uint64_t max_us;
} hist_t;

/* Slow deliveries grouped by send time: when a tail-latency stall happened, how long, how bad. */
typedef struct {
  uint64_t first_sent;
  uint64_t last_sent;
  uint64_t count;
  uint64_t max_us;
} episode_t;

typedef struct conn {
  int fd;
  int role;
  int idx;
  int state;
  int out_blocked;
  buf_t in;
  buf_t out;
  char client_id[64];
  /* publisher: one encoded PUBLISH, copied and patched per message */
  uint8_t *tmpl;
  size_t tmpl_len;
  size_t pid_at;
  size_t payload_at;
  uint32_t seq;
  uint32_t inflight;
  uint64_t *pending; /* send time by packet id, 0 when not awaiting PUBACK */
  int fanout;        /* subscribers whose filter matches this publisher's topic */
  uint64_t settled;  /* deliveries accounted for: received, or skipped over by a later one */
  uint64_t written_off;
  uint64_t progress_at;
  /* subscriber */
  char filter[256];
  int subscribed;
  track_t *from; /* one per publisher */
} conn_t;

static opts_t o = {
    .host = "127.0.0.1",
    .pubs = 1,
    .subs = 1,
    .pub_topic = "bench/{i}",
    .sub_filter = "bench/#",
    .payload = 64,
    .window = 64,
    .warmup = 1,
    .duration = 10,
    .drain = 10,
    .quiet = 2,
    .id = "lg",
    .conns = 1000,
};

static int ep;
static conn_t **pubs;
static conn_t **subs;

/* measurement */
static uint64_t t_start, w_start, w_end, last_recv;
static uint64_t sent_total, sent_window, acked_total, acked_window;
static uint64_t recv_total, recv_window, distinct_total, dups, out_of_order, unexpected;
static uint64_t disconnects, sub_disconnects, pub_disconnects, reused_ids, stalls;
static int exhausted; /* publishers that sent --count messages before the measured window ended */
static int awaiting_connack;
static hist_t e2e, ack_rtt;
static episode_t episodes[MAX_EPISODES];
static int nepisodes;
static uint64_t episodes_total;
static char *errors[MAX_ERRORS];
static int nerrors;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void note_error(const char *fmt, ...) {
  if (nerrors >= MAX_ERRORS) return;
  char *line = malloc(256);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, 256, fmt, ap);
  va_end(ap);
  errors[nerrors++] = line;
}

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s\n", what);
  exit(2);
}

static void hist_record(hist_t *h, uint64_t ns) {
  uint64_t us = ns / 1000;
  if (us > h->max_us) h->max_us = us;
  h->counts[us < HIST_BUCKETS ? us : HIST_BUCKETS - 1]++;
  h->total++;
}

static void note_slow(uint64_t sent_at, uint64_t latency_ns) {
  static uint64_t last_slow_sent;
  if (latency_ns < SLOW_NS) return;
  int starts = episodes_total == 0 || sent_at > last_slow_sent + EPISODE_GAP_NS;
  if (sent_at > last_slow_sent) last_slow_sent = sent_at;
  if (starts) {
    episodes_total++;
    if (nepisodes < MAX_EPISODES) episodes[nepisodes++].first_sent = sent_at;
    else return;
  } else if (episodes_total > (uint64_t)nepisodes) {
    return; /* an episode past the kept ones */
  }
  episode_t *e = &episodes[nepisodes - 1];
  if (sent_at > e->last_sent) e->last_sent = sent_at;
  e->count++;
  if (latency_ns / 1000 > e->max_us) e->max_us = latency_ns / 1000;
}

static uint64_t hist_quantile(const hist_t *h, double q) {
  if (h->total == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)(h->total - 1)) + 1;
  uint64_t seen = 0;
  for (uint32_t us = 0; us < HIST_BUCKETS; us++) {
    seen += h->counts[us];
    if (seen >= rank) return us == HIST_BUCKETS - 1 ? h->max_us : us;
  }
  return h->max_us;
}

/* Expands "{i}" in a topic or filter template to the client's index. */
static void expand(char *out, size_t cap, const char *tmpl, int idx) {
  const char *mark = strstr(tmpl, "{i}");
  if (!mark) {
    snprintf(out, cap, "%s", tmpl);
    return;
  }
  snprintf(out, cap, "%.*s%d%s", (int)(mark - tmpl), tmpl, idx, mark + 3);
}

/* MQTT topic matching for the subscriber's expectations: '+' one level, '#' the rest. */
static int topic_matches(const char *filter, const char *topic) {
  while (*filter) {
    if (filter[0] == '#') return 1;
    if (filter[0] == '+') {
      while (*topic && *topic != '/') topic++;
      filter++;
    } else {
      while (*filter && *filter != '/') {
        if (*filter++ != *topic++) return 0;
      }
    }
    if (*filter == '/' && *topic == '/') {
      filter++;
      topic++;
      /* "a/#" also matches "a" itself, which never occurs here: topics always have the level. */
    } else if (*filter || *topic) {
      return 0;
    }
  }
  return *topic == 0;
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, o.host, &addr.sin_addr);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void watch_output(conn_t *c, int blocked) {
  if (c->out_blocked == blocked) return;
  c->out_blocked = blocked;
  struct epoll_event ev = {.events = EPOLLIN | (blocked ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void drop(conn_t *c) {
  if (c->fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
  }
  c->out.start = c->out.end = 0;
  c->in.start = c->in.end = 0;
  c->out_blocked = 0;
}

static void lost_connection(conn_t *c, const char *why) {
  if (c->state == ST_CONNACK) awaiting_connack--;
  if (c->state == ST_LEAVING) {
    c->state = ST_OFFLINE;
  } else if (c->state != ST_CLOSED && !stopping) {
    disconnects++;
    if (c->role == ROLE_SUB) sub_disconnects++;
    if (c->role == ROLE_PUB) pub_disconnects++;
    note_error("%s %d (%s) closed by broker: %s", c->role == ROLE_PUB ? "publisher" : c->role == ROLE_SUB ? "subscriber" : "idle connection", c->idx, c->client_id, why);
    c->state = ST_CLOSED;
  }
  drop(c);
}

/* Opens the socket and sends CONNECT; the reply moves the connection on in on_packet. */
static int open_conn(conn_t *c, int port, int clean, size_t in_cap) {
  c->fd = dial(port);
  if (c->fd < 0) return -1;
  if (!c->in.data) {
    buf_init(&c->in, in_cap);
    buf_init(&c->out, in_cap < 4096 ? 256 : OUT_HIGH_WATER * 2);
  }
  c->state = ST_CONNACK;
  awaiting_connack++;
  c->out.end += mqtt_connect(buf_reserve(&c->out, 128), c->client_id, clean, 0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

static void build_template(conn_t *c) {
  char topic[256];
  expand(topic, sizeof topic, o.pub_topic, c->idx);
  size_t tlen = strlen(topic);
  size_t body = 2 + tlen + (o.pub_qos ? 2 : 0) + (size_t)o.payload;
  c->tmpl = calloc(1, MQTT_MAX_FIXED_HEADER + body);
  size_t h = mqtt_put_fixed(c->tmpl, (uint8_t)((MQTT_PUBLISH << 4) | (o.pub_qos << 1)), body);
  uint8_t *p = mqtt_put_string(c->tmpl + h, topic, tlen);
  c->pid_at = (size_t)(p - c->tmpl);
  if (o.pub_qos) p += 2;
  c->payload_at = (size_t)(p - c->tmpl);
  c->tmpl_len = h + body;
  uint32_t idx = (uint32_t)c->idx;
  memcpy(c->tmpl + c->payload_at, &idx, 4);
  for (int subi = 0; subi < o.subs; subi++) {
    int match = topic_matches(subs[subi]->filter, topic);
    subs[subi]->from[c->idx].expected = match;
    c->fanout += match;
  }
}

static void track(conn_t *sub, uint32_t pub, uint32_t seq, uint64_t sent_at, uint64_t now) {
  if (pub >= (uint32_t)o.pubs || !sub->from[pub].expected) {
    unexpected++;
    return;
  }
  recv_total++;
  last_recv = now;
  if (now >= w_start && now < w_end) recv_window++;
  if (!o.persistent && sent_at >= w_start && sent_at < w_end) {
    hist_record(&e2e, now - sent_at);
    note_slow(sent_at, now - sent_at);
  }
  track_t *t = &sub->from[pub];
  if (seq >= t->cap) {
    uint32_t cap = t->cap ? t->cap : 65536;
    while (cap <= seq) cap *= 2;
    t->bits = realloc(t->bits, cap / 8);
    if (!t->bits) die("out of memory for sequence bitmaps");
    memset((uint8_t *)t->bits + t->cap / 8, 0, (cap - t->cap) / 8);
    t->cap = cap;
  }
  uint64_t bit = 1ull << (seq % 64);
  if (t->bits[seq / 64] & bit) {
    dups++;
    return;
  }
  t->bits[seq / 64] |= bit;
  if (t->distinct > 0 && seq < t->max_seq) {
    out_of_order++;
  } else {
    /* In order per topic (MQTT 4.6), so a gap is a loss: it no longer counts as in transit. */
    conn_t *p = pubs[pub];
    p->settled += seq + 1 - (t->distinct > 0 ? t->max_seq + 1 : 0);
    p->progress_at = now;
    t->max_seq = seq;
  }
  t->distinct++;
  distinct_total++;
}

static void on_publish(conn_t *c, uint8_t first, const uint8_t *body, size_t len, uint64_t now) {
  int qos = (first >> 1) & 0x03;
  if (len < 2 || c->role != ROLE_SUB) {
    unexpected++;
    return;
  }
  size_t at = 2 + mqtt_get_u16(body);
  uint16_t pid = 0;
  if (qos > 0) {
    pid = mqtt_get_u16(body + at);
    at += 2;
  }
  if (len >= at + PAYLOAD_HEADER) {
    uint32_t pub, seq;
    uint64_t sent_at;
    memcpy(&pub, body + at, 4);
    memcpy(&seq, body + at + 4, 4);
    memcpy(&sent_at, body + at + 8, 8);
    track(c, pub, seq, sent_at, now);
  } else {
    unexpected++;
  }
  if (qos == 1) c->out.end += mqtt_short(buf_reserve(&c->out, 4), MQTT_PUBACK << 4, pid);
  if (qos == 2) c->out.end += mqtt_short(buf_reserve(&c->out, 4), MQTT_PUBREC << 4, pid);
}

static void on_packet(conn_t *c, uint8_t first, const uint8_t *body, size_t len, uint64_t now) {
  switch (first >> 4) {
    case MQTT_CONNACK:
      if (len < 2 || body[1] != 0) {
        note_error("%s refused: CONNACK return code %d", c->client_id, len < 2 ? -1 : body[1]);
        lost_connection(c, "connection refused");
        return;
      }
      if (c->state != ST_CONNACK) return;
      awaiting_connack--;
      if (c->role == ROLE_SUB && !c->subscribed) {
        c->out.end += mqtt_subscribe(buf_reserve(&c->out, 512), 1, c->filter, o.sub_qos);
        c->state = ST_SUBACK;
        return;
      }
      /* [MQTT-3.2.2-2] A resumed session must be reported present, else its queue is gone. */
      if (c->role == ROLE_SUB && !(body[0] & 1)) note_error("%s: session not present on reconnect", c->client_id);
      c->state = ST_READY;
      break;
    case MQTT_SUBACK:
      if (len < 3 || body[2] == 0x80) {
        note_error("%s: subscription to %s refused", c->client_id, c->filter);
        lost_connection(c, "subscription refused");
        return;
      }
      c->subscribed = 1;
      if (o.persistent) {
        /* Offline from here: the broker closes the socket once it has handled the DISCONNECT. */
        c->out.end += mqtt_empty(buf_reserve(&c->out, 2), MQTT_DISCONNECT);
        c->state = ST_LEAVING;
      } else {
        c->state = ST_READY;
      }
      break;
    case MQTT_PUBLISH:
      on_publish(c, first, body, len, now);
      break;
    case MQTT_PUBACK: {
      if (len < 2) return;
      uint16_t pid = mqtt_get_u16(body);
      if (!c->pending || !c->pending[pid]) return;
      hist_record(&ack_rtt, now - c->pending[pid]);
      c->pending[pid] = 0;
      c->inflight--;
      acked_total++;
      if (now >= w_start && now < w_end) acked_window++;
      break;
    }
    case MQTT_PUBREL:
      if (len >= 2) c->out.end += mqtt_short(buf_reserve(&c->out, 4), MQTT_PUBCOMP << 4, mqtt_get_u16(body));
      break;
    default:
      break;
  }
}

static void on_readable(conn_t *c, uint64_t now) {
  int r = buf_read(&c->in, c->fd, c->role == ROLE_IDLE ? 64 : READ_CHUNK);
  if (r == IO_AGAIN) return;
  if (r == IO_CLOSED) {
    lost_connection(c, "EOF");
    return;
  }
  while (buf_len(&c->in) >= 2 && c->fd >= 0) {
    const uint8_t *at = c->in.data + c->in.start;
    size_t header;
    long total = mqtt_frame(at, buf_len(&c->in), &header);
    if (total < 0) {
      lost_connection(c, "malformed packet from broker");
      return;
    }
    if (total == 0) break;
    c->in.start += (size_t)total;
    on_packet(c, at[0], at + header, (size_t)total - header, now);
  }
}

static void flush(conn_t *c) {
  if (c == NULL || c->fd < 0 || c->out_blocked || buf_len(&c->out) == 0) return;
  int r = buf_flush(&c->out, c->fd);
  if (r == IO_CLOSED) lost_connection(c, "write failed");
  else watch_output(c, r == IO_AGAIN);
}

/* Encodes as many messages as the rate, the QoS 1 window and the output buffer allow. */
static int produce(conn_t *c, uint64_t now) {
  if (c->state != ST_READY || c->out_blocked) return 0;
  uint64_t budget = UINT64_MAX;
  if (o.rate > 0) {
    uint64_t due = (uint64_t)((double)(now - t_start) * o.rate / o.pubs / 1e9) + 1;
    budget = due > c->seq ? due - c->seq : 0;
  }
  if (o.e2e_window > 0 && c->fanout > 0) {
    /* End-to-end flow control: at most e2e_window messages per publisher in transit, so the
       broker's queues stay bounded and the rate measured is the rate it sustains. */
    uint64_t cap = (uint64_t)o.e2e_window * (uint64_t)c->fanout;
    uint64_t transit = (uint64_t)c->seq * (uint64_t)c->fanout - c->settled - c->written_off;
    /* At QoS 0 a broker may drop: after a stall, what is in transit is written off as lost. At
       QoS 1 nothing acknowledged may be lost, so the publisher waits (and a loss shows). */
    if (o.pub_qos == 0 && transit >= cap && now - c->progress_at > STALL_NS) {
      stalls++;
      c->written_off += transit;
      c->progress_at = now;
      transit = 0;
    }
    uint64_t room = transit < cap ? (cap - transit) / (uint64_t)c->fanout : 0;
    if (room < budget) budget = room;
  }
  if (o.pub_qos > 0) {
    uint64_t room = c->inflight < (uint32_t)o.window ? (uint64_t)o.window - c->inflight : 0;
    if (room < budget) budget = room;
  }
  if (o.count > 0) {
    uint64_t left = o.count > c->seq ? o.count - c->seq : 0;
    if (left < budget) budget = left;
  }
  uint64_t made = 0;
  while (made < budget && buf_len(&c->out) < OUT_HIGH_WATER) {
    uint8_t *p = buf_reserve(&c->out, c->tmpl_len);
    memcpy(p, c->tmpl, c->tmpl_len);
    if (o.pub_qos > 0) {
      uint16_t pid = (uint16_t)(c->seq % 65535 + 1);
      if (c->pending[pid]) {
        /* Never acknowledged 65,535 messages ago: counted, and that message stays unacknowledged. */
        reused_ids++;
        break;
      }
      c->pending[pid] = now;
      c->inflight++;
      mqtt_put_u16(p + c->pid_at, pid);
    }
    memcpy(p + c->payload_at + 4, &c->seq, 4);
    memcpy(p + c->payload_at + 8, &now, 8);
    c->out.end += c->tmpl_len;
    c->seq++;
    made++;
  }
  sent_total += made;
  if (now >= w_start && now < w_end) sent_window += made;
  if (made > 0 && o.count > 0 && c->seq == o.count && now < w_end) exhausted++;
  /* Only a full output buffer can be relieved by the flush that follows without another event. */
  return made < budget && buf_len(&c->out) >= OUT_HIGH_WATER;
}

/*
 * One turn of the loop: wait for events (no longer than `timeout_ms`), read and answer, let the
 * publishers encode when `publishing`, write everything. Returns whether a publisher is still
 * able to encode without waiting for an event.
 */
static int turn(int timeout_ms, int publishing, int timer_fd) {
  struct epoll_event events[512];
  int n = epoll_wait(ep, events, 512, timeout_ms);
  uint64_t now = now_ns();
  for (int i = 0; i < n; i++) {
    conn_t *c = events[i].data.ptr;
    if (c == NULL) {
      uint64_t ticks;
      if (read(timer_fd, &ticks, sizeof ticks) < 0) continue;
      continue;
    }
    if (events[i].events & EPOLLOUT) watch_output(c, 0);
    if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c, now);
  }
  int busy = 0;
  if (publishing) {
    for (int i = 0; i < o.pubs; i++) busy |= produce(pubs[i], now);
  }
  for (int i = 0; i < o.subs; i++) flush(subs[i]);
  for (int i = 0; i < o.pubs; i++) flush(pubs[i]);
  return busy;
}

static int all_in_state(conn_t **cs, int n, int state) {
  for (int i = 0; i < n; i++) {
    if (cs[i]->state != state) return 0;
  }
  return 1;
}

static void wait_state(conn_t **cs, int n, int state, double seconds, const char *what) {
  uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
  while (!all_in_state(cs, n, state)) {
    for (int i = 0; i < n; i++) {
      if (cs[i]->state == ST_CLOSED) die(errors[0] ? errors[0] : what);
    }
    if (now_ns() > deadline || stopping) die(what);
    turn(10, 0, -1);
  }
}

static conn_t *new_conn(int role, int idx) {
  conn_t *c = calloc(1, sizeof *c);
  c->fd = -1;
  c->role = role;
  c->idx = idx;
  snprintf(c->client_id, sizeof c->client_id, "%s-%c%d", o.id, role == ROLE_PUB ? 'p' : role == ROLE_SUB ? 's' : 'i', idx);
  return c;
}

static int publishers_settled(void) {
  for (int i = 0; i < o.pubs; i++) {
    conn_t *c = pubs[i];
    if (c->fd >= 0 && (buf_len(&c->out) > 0 || c->inflight > 0)) return 0;
  }
  return 1;
}

/* Messages still (even partly) in a publisher's output buffer: its newest ones, all PUBLISH. */
static uint64_t unwritten(const conn_t *c) {
  return c->fd < 0 || c->tmpl_len == 0 ? 0 : (buf_len(&c->out) + c->tmpl_len - 1) / c->tmpl_len;
}

/* Messages each subscriber should have: all sent at QoS 0, all acknowledged at QoS 1. */
static void count_losses(uint64_t *expected_out, uint64_t *lost_out) {
  uint64_t expected = 0, lost = 0;
  for (int p = 0; p < o.pubs; p++) {
    conn_t *pub = pubs[p];
    for (int s = 0; s < o.subs; s++) {
      track_t *t = &subs[s]->from[p];
      if (!t->expected) continue;
      uint64_t owed = pub->seq, got = t->distinct;
      /* QoS 0: what never left the publisher's buffer (the broker stopped reading it) was not sent.
         At QoS 1 it is still unacknowledged, and left out below. */
      if (o.pub_qos == 0) owed -= unwritten(pub);
      if (pub->pending && pub->inflight > 0) {
        /* A message still unacknowledged was never promised: leave it out on both sides. */
        for (uint32_t pid = 1; pid <= 65535; pid++) {
          if (!pub->pending[pid]) continue;
          uint32_t seq = pub->seq - 1 - ((pub->seq - 1 - (pid - 1)) % 65535);
          owed--;
          if (seq < t->cap && (t->bits[seq / 64] >> (seq % 64) & 1)) got--;
        }
      }
      expected += owed;
      lost += owed > got ? owed - got : 0;
    }
  }
  *expected_out = expected;
  *lost_out = lost;
}

static void print_hist(const char *name, const hist_t *h) {
  printf("\"%s\":{\"count\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu}", name,
         (unsigned long long)h->total, (unsigned long long)hist_quantile(h, 0.5), (unsigned long long)hist_quantile(h, 0.9),
         (unsigned long long)hist_quantile(h, 0.99), (unsigned long long)hist_quantile(h, 0.999), (unsigned long long)h->max_us);
}

/* Episodes by send time in ms after the measured window opened; only the first MAX_EPISODES are kept. */
static void print_episodes(void) {
  printf("\"slow_episodes_total\":%llu,\"slow_episodes\":[", (unsigned long long)episodes_total);
  for (int i = 0; i < nepisodes; i++) {
    const episode_t *e = &episodes[i];
    printf("%s{\"at_ms\":%.1f,\"span_ms\":%.1f,\"count\":%llu,\"max_us\":%llu}", i ? "," : "", (double)(e->first_sent - w_start) / 1e6,
           (double)(e->last_sent - e->first_sent) / 1e6, (unsigned long long)e->count, (unsigned long long)e->max_us);
  }
  printf("]");
}

static void print_errors(void) {
  printf("\"errors\":[");
  for (int i = 0; i < nerrors; i++) {
    printf("%s\"", i ? "," : "");
    for (const char *p = errors[i]; *p; p++) {
      if (*p == '"' || *p == '\\') putchar('\\');
      putchar(*p);
    }
    putchar('"');
  }
  printf("]");
}

/* DISCONNECT, so the broker ends each session normally rather than on a reset. */
static void say_goodbye(conn_t **cs, int n) {
  for (int i = 0; i < n; i++) {
    conn_t *c = cs[i];
    if (c->fd < 0) continue;
    c->out.end += mqtt_empty(buf_reserve(&c->out, 2), MQTT_DISCONNECT);
    buf_flush(&c->out, c->fd);
    c->state = ST_CLOSED;
    drop(c);
  }
}

static int run(void) {
  e2e.counts = calloc(HIST_BUCKETS, sizeof(uint32_t));
  ack_rtt.counts = calloc(HIST_BUCKETS, sizeof(uint32_t));
  pubs = calloc((size_t)o.pubs, sizeof *pubs);
  subs = calloc((size_t)(o.subs ? o.subs : 1), sizeof *subs);

  for (int i = 0; i < o.subs; i++) {
    conn_t *c = subs[i] = new_conn(ROLE_SUB, i);
    expand(c->filter, sizeof c->filter, o.sub_filter, i);
    c->from = calloc((size_t)o.pubs, sizeof(track_t));
    if (open_conn(c, o.sub_port, !o.persistent, READ_CHUNK * 2) < 0) die("subscriber cannot connect");
  }
  wait_state(subs, o.subs, o.persistent ? ST_OFFLINE : ST_READY, 30, "subscribers not ready in 30 s");

  for (int i = 0; i < o.pubs; i++) {
    conn_t *c = pubs[i] = new_conn(ROLE_PUB, i);
    build_template(c);
    if (o.pub_qos > 0) c->pending = calloc(65536, sizeof(uint64_t));
    if (open_conn(c, o.pub_port, 1, 4096) < 0) die("publisher cannot connect");
  }
  wait_state(pubs, o.pubs, ST_READY, 30, "publishers not ready in 30 s");

  int timer_fd = -1;
  if (o.rate > 0) {
    /* Pacing ticks no coarser than one message, no finer than 50 µs. */
    double interval = 1e9 / o.rate;
    if (interval < 50000) interval = 50000;
    if (interval > 1000000) interval = 1000000;
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = {.it_interval = {0, (long)interval}, .it_value = {0, (long)interval}};
    timerfd_settime(timer_fd, 0, &its, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, timer_fd, &ev);
  }

  t_start = now_ns();
  for (int i = 0; i < o.pubs; i++) pubs[i]->progress_at = t_start;
  w_start = t_start + (uint64_t)(o.warmup * 1e9);
  w_end = w_start + (uint64_t)(o.duration * 1e9);
  int busy = 0;
  while (!stopping && now_ns() < w_end) busy = turn(busy ? 0 : 5, 1, timer_fd);
  uint64_t published_at = now_ns();

  /* Publishers stop: their buffers drain and, at QoS 1, every message in flight is acknowledged. */
  uint64_t deadline = published_at + (uint64_t)(o.drain * 1e9);
  while (!stopping && !publishers_settled() && now_ns() < deadline) turn(5, 0, timer_fd);
  if (!publishers_settled()) note_error("publishers still had unwritten or unacknowledged messages after %.0f s", o.drain);

  uint64_t drain_start = now_ns();
  uint64_t received_before_drain = recv_total;
  if (o.persistent) {
    for (int i = 0; i < o.subs; i++) {
      if (open_conn(subs[i], o.sub_port, 0, READ_CHUNK * 2) < 0) die("subscriber cannot reconnect");
    }
  }
  uint64_t expected, lost;
  last_recv = drain_start;
  deadline = drain_start + (uint64_t)(o.drain * 1e9);
  /* Why the drain ended: all owed messages arrived, none arrived for --quiet, or --drain passed
     while they still were arriving (then "lost" includes messages merely not delivered yet). */
  const char *drain_end;
  for (;;) {
    count_losses(&expected, &lost);
    uint64_t now = now_ns();
    drain_end = lost == 0 ? "complete" : now - last_recv > (uint64_t)(o.quiet * 1e9) ? "quiet" : now > deadline ? "deadline" : NULL;
    if (drain_end || stopping) break;
    /* Recount at most every 20 ms: counting walks every pair of publisher and subscriber. */
    uint64_t until = now + 20000000;
    do turn(5, 0, timer_fd);
    while (now_ns() < until && !stopping);
  }
  double drain_s = (double)(now_ns() - drain_start) / 1e9;
  uint64_t unwritten_total = 0;
  for (int i = 0; i < o.pubs; i++) unwritten_total += unwritten(pubs[i]);
  say_goodbye(subs, o.subs);
  say_goodbye(pubs, o.pubs);

  double window = o.duration;
  printf("{\"mode\":\"run\",\"pubs\":%d,\"subs\":%d,\"pub_qos\":%d,\"sub_qos\":%d,\"payload\":%d,\"window_s\":%.3f,", o.pubs, o.subs,
         o.pub_qos, o.sub_qos, o.payload, window);
  printf("\"sent\":%llu,\"acked\":%llu,\"pub_rate\":%.1f,", (unsigned long long)sent_total, (unsigned long long)acked_total,
         (o.pub_qos ? (double)acked_window : (double)sent_window) / window);
  printf("\"received\":%llu,\"recv_rate\":%.1f,\"expected\":%llu,\"lost\":%llu,\"duplicates\":%llu,\"out_of_order\":%llu,", (unsigned long long)recv_total,
         (double)recv_window / window, (unsigned long long)expected, (unsigned long long)lost, (unsigned long long)dups,
         (unsigned long long)out_of_order);
  printf("\"e2e_window\":%d,\"stalls\":%llu,\"drain_end\":\"%s\",", o.e2e_window, (unsigned long long)stalls, drain_end ? drain_end : "stopped");
  printf("\"count\":%llu,\"exhausted\":%d,\"unwritten\":%llu,", (unsigned long long)o.count, exhausted, (unsigned long long)unwritten_total);
  printf("\"unexpected\":%llu,\"disconnects\":%llu,\"sub_disconnects\":%llu,\"pub_disconnects\":%llu,\"reused_packet_ids\":%llu,",
         (unsigned long long)unexpected, (unsigned long long)disconnects, (unsigned long long)sub_disconnects, (unsigned long long)pub_disconnects,
         (unsigned long long)reused_ids);
  printf("\"drain_s\":%.3f,\"drain_rate\":%.1f,", drain_s,
         drain_s > 0 ? (double)(recv_total - received_before_drain) / drain_s : 0.0);
  print_hist("latency_us", &e2e);
  printf(",");
  print_hist("ack_rtt_us", &ack_rtt);
  printf(",");
  print_episodes();
  printf(",");
  print_errors();
  printf("}\n");
  return 0;
}

static int idle(void) {
  o.pubs = o.subs = 0; /* the loop's publisher and subscriber passes have nothing to do here */
  conn_t **cs = calloc((size_t)o.conns, sizeof *cs);
  uint64_t started = now_ns();
  uint64_t deadline = started + 60000000000ull;
  for (int i = 0; i < o.conns && !stopping; i++) {
    cs[i] = new_conn(ROLE_IDLE, i);
    if (open_conn(cs[i], o.pub_port, 1, 64) < 0) {
      cs[i]->state = ST_CLOSED;
      continue;
    }
    flush(cs[i]);
    /* Bounded handshakes in flight keep the broker's accept queue (Mosquitto listens with a
       backlog of 100) from overflowing into SYN retransmissions a second apart. */
    while (awaiting_connack >= 64 && now_ns() < deadline) turn(10, 0, -1);
  }
  while (awaiting_connack > 0 && now_ns() < deadline && !stopping) turn(10, 0, -1);
  int connected = 0;
  for (int i = 0; i < o.conns; i++) connected += cs[i] && cs[i]->state == ST_READY;
  printf("{\"event\":\"ready\",\"connected\":%d,\"failed\":%d,\"connect_s\":%.3f}\n", connected, o.conns - connected,
         (double)(now_ns() - started) / 1e9);
  fflush(stdout);

  /* Hold until the orchestrator has measured: it closes our stdin or sends SIGTERM. */
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  int held = 1;
  while (held && !stopping) {
    struct epoll_event events[512];
    int n = epoll_wait(ep, events, 512, 200);
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        char scratch[64];
        if (read(0, scratch, sizeof scratch) <= 0) held = 0;
        continue;
      }
      on_readable(events[i].data.ptr, now_ns());
    }
  }
  stopping = 1;
  printf("{\"event\":\"done\",\"dropped\":%llu,", (unsigned long long)disconnects);
  print_errors();
  printf("}\n");
  return 0;
}

static void usage(void) {
  fputs("usage: loadgen run|idle [--host H] [--port P | --pub-port P --sub-port P] [--pubs N] [--subs N]\n"
        "  [--pub-topic T] [--sub-filter F] ({i} = client index) [--qos Q | --pub-qos Q --sub-qos Q]\n"
        "  [--payload BYTES] [--rate MSG_PER_S] [--window N] [--warmup S] [--duration S] [--drain S]\n"
        "  [--quiet S] [--e2e-window N] [--count MSGS_PER_PUBLISHER] [--id PREFIX] [--persistent] [--conns N]\n",
        stderr);
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const char *mode = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--persistent")) {
      o.persistent = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(k, "--host")) o.host = v;
    else if (!strcmp(k, "--port")) o.pub_port = o.sub_port = atoi(v);
    else if (!strcmp(k, "--pub-port")) o.pub_port = atoi(v);
    else if (!strcmp(k, "--sub-port")) o.sub_port = atoi(v);
    else if (!strcmp(k, "--pubs")) o.pubs = atoi(v);
    else if (!strcmp(k, "--subs")) o.subs = atoi(v);
    else if (!strcmp(k, "--pub-topic")) o.pub_topic = v;
    else if (!strcmp(k, "--sub-filter")) o.sub_filter = v;
    else if (!strcmp(k, "--qos")) o.pub_qos = o.sub_qos = atoi(v);
    else if (!strcmp(k, "--pub-qos")) o.pub_qos = atoi(v);
    else if (!strcmp(k, "--sub-qos")) o.sub_qos = atoi(v);
    else if (!strcmp(k, "--payload")) o.payload = atoi(v);
    else if (!strcmp(k, "--rate")) o.rate = atof(v);
    else if (!strcmp(k, "--window")) o.window = atoi(v);
    else if (!strcmp(k, "--warmup")) o.warmup = atof(v);
    else if (!strcmp(k, "--duration")) o.duration = atof(v);
    else if (!strcmp(k, "--drain")) o.drain = atof(v);
    else if (!strcmp(k, "--quiet")) o.quiet = atof(v);
    else if (!strcmp(k, "--e2e-window")) o.e2e_window = atoi(v);
    else if (!strcmp(k, "--count")) o.count = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--id")) o.id = v;
    else if (!strcmp(k, "--conns")) o.conns = atoi(v);
    else usage();
  }
  if (o.pub_port <= 0 || o.sub_port <= 0) usage();
  if (o.pub_qos < 0 || o.pub_qos > 1) die("--pub-qos must be 0 or 1 (the generator does not publish QoS 2)");
  if (o.sub_qos < 0 || o.sub_qos > 2) die("--sub-qos must be 0, 1 or 2");
  if (o.payload < PAYLOAD_HEADER) die("--payload must be at least 16 bytes (index, sequence, timestamp)");
  if (o.window < 1 || o.window > 65000) die("--window must be 1..65000");
  if (o.pubs < 1) die("--pubs must be at least 1");

  setup_process();
  ep = epoll_create1(0);
  if (!strcmp(mode, "run")) return run();
  if (!strcmp(mode, "idle")) return idle();
  usage();
  return 2;
}
