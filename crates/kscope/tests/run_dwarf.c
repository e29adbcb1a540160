/* The workload of run_dwarf.rs: built with -g, it calls kscope_dw() with known
 * parameters, for uprobe `args` named and typed from its DWARF. */
#include <stdbool.h>
#include <stdint.h>

typedef int64_t dw_big;

struct dw_inner {
	unsigned short tag;
	char label[8];
};

struct dw_pair {
	int m;
	long k;
	struct dw_inner in;
	const char *name;
	struct dw_pair *next;
};

__attribute__((noinline)) int kscope_dw(int n, char c, struct dw_pair *p, const char *s,
					 bool odd, dw_big big)
{
	__asm__ volatile("" : : "r"(p), "r"(s) : "memory");
	return n + c + p->m + (int)odd + (int)big;
}

__attribute__((noinline)) int kscope_dw7(int a, int b, int c, int d, int e, int f, int g)
{
	__asm__ volatile("" : : : "memory");
	return a + b + c + d + e + f + g;
}

__attribute__((noinline)) int kscope_dw3(short a, unsigned char b, bool c)
{
	__asm__ volatile("" : : : "memory");
	return a + b + c;
}

/* The same parameters as kscope_dw3, for `args` over a wildcard. */
__attribute__((noinline)) int kscope_dw3_again(short a, unsigned char b, bool c)
{
	__asm__ volatile("" : : : "memory");
	return a - b - c;
}

int main(void)
{
	/* On the stack, whose pages are present: a uprobe's bpf_probe_read_user cannot
	 * fault in a string left in an untouched .rodata page. */
	char words[3][8] = { "zero", "one", "two" };
	char first[8] = "first", last[8] = "last";
	struct dw_pair tail = { .m = 99, .k = -5, .in = { 7, "tail" }, .name = last };
	struct dw_pair head = { .m = -42, .k = 1234567890123L, .in = { 65535, "head" },
				.name = first, .next = &tail };
	int sum = 0;
	for (int i = 0; i < 5; i++)
		sum += kscope_dw(i % 2, (char)('a' + i % 3), i < 3 ? &head : &tail, words[i % 3],
				 i % 2 == 1, -((dw_big)1 << 40) - i);
	sum += kscope_dw3(-3, 200, true) + kscope_dw3(5, 0, false) + kscope_dw3_again(9, 1, true);
	sum += kscope_dw7(1, 2, 3, 4, 5, 6, 7);
	return sum == 0;
}
