/* Types for the DWARF reader's unit tests (built with -g at test time). */
#include <stdbool.h>
#include <stdint.h>

typedef unsigned long my_size;
enum colour { RED, GREEN };

struct inner {
    short s;
    char name[6];
};

struct outer {
    int a;
    const char *text;
    struct inner in;
    union {
        long l;
        unsigned char bytes[8];
    };
    unsigned flag : 1;
    struct outer *next;
    int grid[2][3];
    bool ok;
};

typedef struct {
    int x, y;
} point_t;

__attribute__((noinline)) int dw_unit(int n, char c, unsigned char u, const volatile my_size sz,
                                      struct outer *o, point_t *p, enum colour col, double d,
                                      int64_t big, bool b, void *v)
{
    return n + c + u + (int)sz + (o ? o->a : 0) + (p ? p->x : 0) + col + (int)d + (int)big + b +
           (v != 0);
}

int main(void)
{
    struct outer o = { 0 };
    point_t p = { 1, 2 };
    return dw_unit(1, 'a', 2, 3, &o, &p, GREEN, 1.5, 7, true, 0) == 0;
}
