/* The workload of run_cstructs.rs: passes pointers to structs (and a union) to
 * noinline functions that a uprobe reads through C definitions in the script. It
 * prints the layout C gives them, for the test to compare with sizeof/offsetof. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct Inner {
	short a;
	uint8_t b[4];
};

struct Foo {
	int m;
	int n;
	char name[16];
	struct Foo *next;
	unsigned long x;
	struct Inner in;
	int arr[4];
	char c;
};

union U {
	int i;
	char c[5];
};

enum Color { RED = 1, GREEN = 2, BLUE = 40 };

struct Bits {
	unsigned int a : 3, b : 5;
	int s : 4;
	unsigned char c;
	unsigned long long big : 60;
	unsigned int : 0;
	bool f : 1;
	enum Color col;
	enum Color cb : 6;
	short t : 9;
	struct {
		char tag;
		union {
			int as_int;
			char as_chars[4];
		};
	} nest;
};

__attribute__((noinline)) int visit_bits(struct Bits *b)
{
	__asm__ volatile("" : : "r"(b) : "memory");
	return b->a;
}

__attribute__((noinline)) int visit(struct Foo *f)
{
	__asm__ volatile("" : : "r"(f) : "memory");
	return f->n;
}

__attribute__((noinline)) int visit_union(union U *u)
{
	__asm__ volatile("" : : "r"(u) : "memory");
	return u->i;
}

int main(void)
{
	struct Foo second = { .m = 3, .n = 4, .x = 5 };
	struct Foo first = {
		.m = -7,
		.n = 42,
		.next = &second,
		.x = 1234567890123UL,
		.in = { .a = -2, .b = { 9, 8, 7, 6 } },
		.arr = { 10, 20, 30, 40 },
		.c = 'z',
	};
	union U u;
	struct Bits bits;

	strcpy(first.name, "first");
	strcpy(second.name, "second");
	memset(&u, 0, sizeof(u));
	u.i = 0x00636261; /* "abc" */
	printf("C %zu %zu %zu %zu %zu\n", sizeof(struct Foo), offsetof(struct Foo, x),
	       offsetof(struct Foo, in), offsetof(struct Foo, arr), sizeof(union U));
	memset(&bits, 0xff, sizeof(bits)); /* padding and neighbours all ones */
	bits.a = 5;
	bits.b = 17;
	bits.s = -3;
	bits.c = 200;
	bits.big = 0x0abcdef012345678ULL;
	bits.f = 1;
	bits.col = BLUE;
	bits.cb = GREEN;
	bits.t = -200;
	bits.nest.tag = 'q';
	bits.nest.as_int = 0x00646362; /* "bcd" */
	printf("CB %zu %zu %zu %zu %zu\n", sizeof(struct Bits), offsetof(struct Bits, c),
	       offsetof(struct Bits, col), offsetof(struct Bits, nest),
	       offsetof(struct Bits, nest.as_chars));
	fflush(stdout);
	return visit(&first) + visit_union(&u) + visit_bits(&bits) > 0 ? 0 : 1;
}
