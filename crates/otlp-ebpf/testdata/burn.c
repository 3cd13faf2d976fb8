// A CPU-bound program with a known call chain, for the profiler's tests and
// overhead benchmark. Build with frame pointers:
//   cc -O1 -g -fno-omit-frame-pointer -o burn burn.c
// Usage: burn SECONDS [wait]. Prints the number of completed work units per
// second of wall time, and per second of the process's own CPU time (which
// the machine's other load changes far less). With "wait" it starts only once a line arrives on stdin, so that a
// test can start profiling first.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__attribute__((noinline)) uint64_t otlp_burn_cpu(uint64_t n)
{
	volatile uint64_t x = 0;
	for (uint64_t i = 0; i < n; i++)
		x += i * i;
	return x;
}

__attribute__((noinline)) uint64_t otlp_known_caller(uint64_t n)
{
	return otlp_burn_cpu(n) + 1;
}

static double clock_s(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 30;
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		char line[16];
		if (!fgets(line, sizeof line, stdin))
			return 1;
	}
	double start = now(), cpu_start = clock_s(CLOCK_PROCESS_CPUTIME_ID), elapsed;
	uint64_t units = 0, sink = 0;
	do {
		sink += otlp_known_caller(100000);
		units++;
		elapsed = now() - start;
	} while (elapsed < seconds);
	double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
	printf("%.1f units/s (%llu) %.1f units/cpu-s\n", units / elapsed,
	       (unsigned long long)(sink & 1), units / cpu);
	return 0;
}
