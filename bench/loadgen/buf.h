/*
 * Byte buffers for non-blocking sockets, shared by the load generator and the sink: one read
 * buffer and one write buffer per connection, compacted in place and grown only when a single
 * packet does not fit.
 */
#ifndef FLUXMQ_BENCH_BUF_H
#define FLUXMQ_BENCH_BUF_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  uint8_t *data;
  size_t start;
  size_t end;
  size_t cap;
} buf_t;

static inline void buf_init(buf_t *b, size_t cap) {
  b->data = malloc(cap);
  if (!b->data) {
    perror("malloc");
    exit(2);
  }
  b->start = b->end = 0;
  b->cap = cap;
}

static inline void buf_free(buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->start = b->end = b->cap = 0;
}

static inline size_t buf_len(const buf_t *b) { return b->end - b->start; }

/* Room for `n` more bytes at the end: compacts first, grows only when compaction is not enough. */
static inline uint8_t *buf_reserve(buf_t *b, size_t n) {
  if (b->cap - b->end >= n) return b->data + b->end;
  if (b->start > 0) {
    memmove(b->data, b->data + b->start, buf_len(b));
    b->end -= b->start;
    b->start = 0;
  }
  if (b->cap - b->end < n) {
    size_t cap = b->cap * 2;
    while (cap - b->end < n) cap *= 2;
    uint8_t *grown = realloc(b->data, cap);
    if (!grown) {
      perror("realloc");
      exit(2);
    }
    b->data = grown;
    b->cap = cap;
  }
  return b->data + b->end;
}

enum { IO_DONE = 0, IO_AGAIN = 1, IO_CLOSED = 2 };

/* Writes what is buffered. IO_AGAIN: the socket is full, wait for EPOLLOUT. */
static inline int buf_flush(buf_t *b, int fd) {
  while (b->start < b->end) {
    ssize_t n = write(fd, b->data + b->start, b->end - b->start);
    if (n > 0) {
      b->start += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return IO_AGAIN;
    } else {
      return IO_CLOSED;
    }
  }
  b->start = b->end = 0;
  return IO_DONE;
}

/* Reads once into the buffer. IO_DONE: got bytes; IO_AGAIN: nothing there; IO_CLOSED: EOF or error. */
static inline int buf_read(buf_t *b, int fd, size_t chunk) {
  uint8_t *at = buf_reserve(b, chunk);
  for (;;) {
    ssize_t n = read(fd, at, b->cap - b->end);
    if (n > 0) {
      b->end += (size_t)n;
      return IO_DONE;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return IO_AGAIN;
    return IO_CLOSED;
  }
}

#endif
