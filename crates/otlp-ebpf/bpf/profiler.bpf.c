// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
//
// CPU sampling profiler: attached to a cpu-clock software perf event on every
// CPU, it counts how often each (process, user stack, kernel stack) is on CPU.
//
// Counts and stacks live in two buffers (index 0 and 1). The program writes
// into the buffer named by `active[0]`; user space flips it before it drains
// the other one, so a collection never races with the program on the entries
// it reads and deletes. Everything is bounded: when a map is full the sample
// is not stored but counted in `stats`, so every sample is accounted for.
//
// Built by scripts/ebpf-object.sh: clang -O2 -g -target bpf.

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

#define MAX_STACK_DEPTH 127
#define EFAULT 14
#define EEXIST 17

// Sizes are set by the loader (max_entries is patched before load); these are
// the defaults.
#define STACK_ENTRIES 16384
#define COUNT_ENTRIES 16384
#define PID_FILTER_ENTRIES 1024
#define SEEN_ENTRIES 8192

// Index into `stats`; user space reads them with the same numbering.
enum stat {
	STAT_SAMPLES = 0,       // program runs that passed the pid filter
	STAT_LOST_COUNTS_FULL,  // counts map full: sample dropped
	STAT_USER_STACK_LOST,   // user stack not stored (map full or collision)
	STAT_KERNEL_STACK_LOST, // kernel stack not stored (map full or collision)
	STAT_NEW_PID_LOST,      // new-process event not delivered (ring full)
	STAT_COUNT,
};

struct sample_key {
	__u32 pid;
	__s32 user_stack_id;   // < 0: no user stack (kernel thread or lost)
	__s32 kernel_stack_id; // < 0: no kernel stack (or lost)
};

struct sample_value {
	__u64 count;
	__u64 last_ns; // bpf_ktime_get_ns() of the latest sample
};

struct stack_map {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, STACK_ENTRIES);
};

struct count_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct sample_key);
	__type(value, struct sample_value);
	__uint(max_entries, COUNT_ENTRIES);
};

struct stack_map stacks_0 SEC(".maps");
struct stack_map stacks_1 SEC(".maps");
struct count_map counts_0 SEC(".maps");
struct count_map counts_1 SEC(".maps");

// Which buffer the program writes into (0 or 1).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, STAT_COUNT);
} stats SEC(".maps");

// Processes to profile when `filter_pids` is set.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, PID_FILTER_ENTRIES);
} pid_filter SEC(".maps");

// Processes already announced to user space, so that it reads their memory
// maps while they still run.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, SEEN_ENTRIES);
} seen_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} new_pids SEC(".maps");

// Set by the loader: profile only the processes in `pid_filter`.
const volatile __u32 filter_pids = 0;

static __always_inline void count_stat(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &index);
	if (value)
		__sync_fetch_and_add(value, 1);
}

static __always_inline void announce(__u32 pid)
{
	__u8 one = 1;
	if (bpf_map_update_elem(&seen_pids, &pid, &one, BPF_NOEXIST) != 0)
		return; // already announced, or the set is full (user space then
		        // reads the maps at collection time)
	if (bpf_ringbuf_output(&new_pids, &pid, sizeof(pid), 0) != 0) {
		bpf_map_delete_elem(&seen_pids, &pid);
		count_stat(STAT_NEW_PID_LOST);
	}
}

static __always_inline int record(struct bpf_perf_event_data *ctx, void *stacks, void *counts,
				  __u32 pid, __u64 now)
{
	struct sample_key key = { .pid = pid };

	key.user_stack_id = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
	// -EFAULT means there is no user stack (a kernel thread): not a loss.
	if (key.user_stack_id < 0 && key.user_stack_id != -EFAULT)
		count_stat(STAT_USER_STACK_LOST);
	key.kernel_stack_id = bpf_get_stackid(ctx, stacks, 0);
	if (key.kernel_stack_id < 0 && key.kernel_stack_id != -EFAULT)
		count_stat(STAT_KERNEL_STACK_LOST);

	struct sample_value *value = bpf_map_lookup_elem(counts, &key);
	if (value) {
		__sync_fetch_and_add(&value->count, 1);
		value->last_ns = now;
		return 0;
	}
	struct sample_value first = { .count = 1, .last_ns = now };
	long err = bpf_map_update_elem(counts, &key, &first, BPF_NOEXIST);
	if (err == -EEXIST) {
		// Another CPU inserted the same key meanwhile.
		value = bpf_map_lookup_elem(counts, &key);
		if (value) {
			__sync_fetch_and_add(&value->count, 1);
			value->last_ns = now;
			return 0;
		}
	}
	if (err != 0)
		count_stat(STAT_LOST_COUNTS_FULL);
	return 0;
}

SEC("perf_event")
int profile_cpu(struct bpf_perf_event_data *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (pid == 0)
		return 0; // the idle task is not CPU use

	if (filter_pids && !bpf_map_lookup_elem(&pid_filter, &pid))
		return 0;

	count_stat(STAT_SAMPLES);
	announce(pid);

	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0;
	__u32 *buffer = bpf_map_lookup_elem(&active, &zero);
	if (buffer && *buffer == 1)
		return record(ctx, &stacks_1, &counts_1, pid, now);
	return record(ctx, &stacks_0, &counts_0, pid, now);
}

// GPL-compatible so that the kernel allows bpf_get_stackid (the file is
// offered under GPL-2.0 as well as Apache-2.0).
char LICENSE[] SEC("license") = "GPL";
