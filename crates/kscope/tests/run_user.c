/* Workloads for the `kscope run` user stack, usym and wildcard uprobe tests. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

NOINLINE int kscope_c(int i) {
    __asm__ volatile("" ::: "memory");
    return i + 1;
}

NOINLINE int kscope_b(int i) {
    int r = kscope_c(i);
    __asm__ volatile("" ::: "memory");
    return r + 1;
}

NOINLINE int kscope_a(int i) {
    int r = kscope_b(i);
    __asm__ volatile("" ::: "memory");
    return r + 1;
}

NOINLINE int kscope_callback(int i) {
    __asm__ volatile("" ::: "memory");
    return i - 1;
}

/* Takes a function pointer in its first argument (for `usym(arg0)`). */
NOINLINE int kscope_take_fn(int (*fn)(int), int i) {
    __asm__ volatile("" ::: "memory");
    return fn(i);
}

NOINLINE int kw_one(int i) { __asm__ volatile("" ::: "memory"); return i; }
NOINLINE int kw_two(int i) { __asm__ volatile("" ::: "memory"); return i; }
NOINLINE int kw_three(int i) { __asm__ volatile("" ::: "memory"); return i; }

/* A struct passed by pointer (for whole-struct values: `*(struct kscope_pair *)arg0`). */
struct kscope_inner { short s; unsigned char b[4]; };
struct kscope_pair { int m; long n; char name[8]; struct kscope_inner in; };
NOINLINE int kscope_take_pair(struct kscope_pair *p) {
    __asm__ volatile("" ::: "memory");
    return p->m;
}

/* Names a demangler misreads: `f` is the mangled type `float`; `_Z3addii` is C++'s
   `add(int, int)`. */
NOINLINE int f(int i) { __asm__ volatile("" ::: "memory"); return i; }
NOINLINE int kscope_add(int a, int b) __asm__("_Z3addii");
NOINLINE int kscope_add(int a, int b) { __asm__ volatile("" ::: "memory"); return a + b; }

/* The tracer exits here (its `exit()`), while this process is still alive. */
NOINLINE void kscope_done(void) {
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[2]);
    int s = 0;
    if (!strcmp(argv[1], "stack")) {
        for (int i = 0; i < n; i++) s += kscope_a(i);
    } else if (!strcmp(argv[1], "fnptr")) {
        for (int i = 0; i < n; i++) s += kscope_take_fn(kscope_callback, i);
    } else if (!strcmp(argv[1], "getppid")) {
        for (int i = 0; i < n; i++) s += getppid() == -1;
    } else if (!strcmp(argv[1], "pair")) {
        /* pair i: m = i % 3, n = -i % 3 * 1000, name "p<i%3>", in = {i % 3 - 1, {1,2,3,i%3}} */
        for (int i = 0; i < n; i++) {
            struct kscope_pair p = {i % 3, -(long)(i % 3) * 1000, "p", {(short)(i % 3 - 1), {1, 2, 3, (unsigned char)(i % 3)}}};
            p.name[1] = (char)('0' + i % 3);
            s += kscope_take_pair(&p);
        }
    } else if (!strcmp(argv[1], "names")) {
        for (int i = 0; i < n; i++) s += f(i);
        for (int i = 0; i < 2 * n; i++) s += kscope_add(i, 1);
    } else if (!strcmp(argv[1], "wild")) {
        for (int i = 0; i < n; i++) s += kw_one(i);
        for (int i = 0; i < 2 * n; i++) s += kw_two(i);
        for (int i = 0; i < 3 * n; i++) s += kw_three(i);
    }
    kscope_done();
    /* Stay alive (for symbolization by pid) until the tracer ends us; 10 s at most. */
    if (argc > 3) sleep(10);
    return s == -1;
}
