/* The workload of run_arrays.rs: upstream's testprogs/array_access.c (struct A with an
 * int[4] and a uint8_t[4], struct B with an int[2][2], struct C with an array of
 * pointers, struct D with a flexible array) plus struct E with a short[2][3], a bool[3]
 * and a uint8_t[2][2][2]; each passed to a noinline function a uprobe reads through C
 * definitions in the script. */
#include <stdbool.h>
#include <stdint.h>

struct A {
	int x[4];
	uint8_t y[4];
};

struct B {
	int y[2][2];
};

struct C {
	int *z[4];
};

struct D {
	int x;
	int y[0];
	int z;
};

struct E {
	short m[2][3];
	bool f[3];
	uint8_t c[2][2][2];
};

#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

__attribute__((noinline)) void test_array(int *a) { KEEP(a); }
__attribute__((noinline)) void test_arrays(struct A *a, struct A *d) { KEEP(a); KEEP(d); }
__attribute__((noinline)) void test_struct(struct A *a, struct B *b) { KEEP(a); KEEP(b); }
__attribute__((noinline)) void test_ptr_array(struct C *c) { KEEP(c); }
__attribute__((noinline)) void test_variable_array(struct D *d) { KEEP(d); }
__attribute__((noinline)) void test_e(struct E *e) { KEEP(e); }

int main(void)
{
	struct A a = { { 1, 2, 3, 4 }, { 0xaa, 0xbb, 0xcc, 0xdd } };
	struct B b = { { { 5, 6 }, { 7, 8 } } };
	test_struct(&a, &b);
	test_array(a.x);
	struct C c = { { &a.x[0], &a.x[1], &a.x[2], &a.x[3] } };
	test_ptr_array(&c);
	struct A d = { { 4, 3, 2, 1 }, { 0 } };
	test_arrays(&a, &d);
	struct D e = { 0 };
	e.z = 1;
	test_variable_array(&e);
	struct E ee = {
		{ { 1, -2, 3 }, { -4, 5, -6 } },
		{ true, false, true },
		{ { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 7, 8 } } },
	};
	test_e(&ee);
	return 0;
}
