/*
 * Process set-up shared by the load generator and the sink: as many descriptors as the hard
 * limit allows (10,000 idle connections need them), no SIGPIPE from a peer that went away, and
 * SIGTERM/SIGINT turned into a flag the event loop checks, so a stopped run still prints its report.
 */
#ifndef FLUXMQ_BENCH_PROCESS_H
#define FLUXMQ_BENCH_PROCESS_H

#include <signal.h>
#include <sys/resource.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void setup_process(void) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

#endif
