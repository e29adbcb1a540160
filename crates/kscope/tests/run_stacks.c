/* The workload of the `kscope run` stack tests (tests/run_stacks.rs): a program without
 * libc, so that its whole user stack is known. `_start` clears %rbp, as the x86-64 ABI
 * has the outermost frame do, so the kernel's frame-pointer walk of the user stack ends
 * there; built with -O0 -fno-omit-frame-pointer, every function keeps its frame.
 *
 * `run_stacks stack N [wait]` calls stk_top -> stk_mid -> stk_leaf N times. At the probe
 * point stk_leaf_body (a nop past stk_leaf's prologue: the walk then needs no help from
 * the uprobe-at-function-entry fix of Linux 6.12) the user stack is 5 frames:
 *
 *     stk_leaf_body, stk_mid, stk_top, stk_main, _start
 *
 * (the probed address, then the return addresses after each call). Then stk_done();
 * with `wait` the program sleeps 10 s, so that it is alive while the tracer reads its
 * stacks (the tracer ends it).
 */

#define NOINLINE __attribute__((noinline))

static long sys2(long n, long a, long b) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    xor %ebp, %ebp\n"
        "    mov %rsp, %rdi\n"
        "    call stk_main\n"
        "    mov %eax, %edi\n"
        "    mov $60, %eax\n" /* exit */
        "    syscall\n"
        "    hlt\n"
        ".size _start, .-_start\n");

NOINLINE void stk_leaf(void) {
    __asm__ volatile(".globl stk_leaf_body\n"
                     ".type stk_leaf_body, @function\n"
                     "stk_leaf_body:\n"
                     "    nop\n" ::: "memory");
}

NOINLINE void stk_mid(void) {
    stk_leaf();
    __asm__ volatile("" ::: "memory");
}

NOINLINE void stk_top(void) {
    stk_mid();
    __asm__ volatile("" ::: "memory");
}

/* The tracer exits here (its `exit()`), while this process is still alive. */
NOINLINE void stk_done(void) {
    __asm__ volatile("" ::: "memory");
}

static int streq(const char *a, const char *b) {
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static long number(const char *s) {
    long n = 0;
    while (*s >= '0' && *s <= '9') n = n * 10 + (*s++ - '0');
    return n;
}

/* `sp` is the initial stack: argc, then argv[]. */
NOINLINE int stk_main(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc < 3 || !streq(argv[1], "stack")) return 2;
    long n = number(argv[2]);
    for (long i = 0; i < n; i++) stk_top();
    stk_done();
    if (argc > 3) {
        long ts[2] = {10, 0};
        sys2(35, (long)ts, 0); /* nanosleep */
    }
    return 0;
}
