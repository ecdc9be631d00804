/*
 * alpenglow-big: a program of about 5 MB of code (8,000 functions) that does almost
 * nothing, so that `alpenglow-bench spawn N alpenglow-big NAME` measures what an exec
 * costs as a function of the program's size (reading, compiling and instantiating it), as
 * large real programs (an editor, an interpreter) pay it. It is built at -O0, which makes
 * the size with a quarter of the functions (and a twentieth of the build time) that -O2
 * would need. The functions are made by the preprocessor: each has its own constants, so
 * no two are the same code, and all of them are reached through one table, so the linker
 * keeps every one.
 */

#define FN(n)								\
	__attribute__((noinline)) static unsigned f##n(unsigned x)	\
	{								\
		unsigned a = x * (n##u * 2654435761u + 1u);		\
		unsigned b = x ^ (n##u << 7);				\
		for (unsigned i = 0; i < (x & 7u); i++) {		\
			a = (a << 5 | a >> 27) + b * n##u;		\
			b ^= a >> 3;					\
		}							\
		switch ((a ^ b) % 6u) {					\
		case 0: return a + n##u;				\
		case 1: return b * (n##u | 1u);				\
		case 2: return (a ^ n##u) - b;				\
		case 3: return a / ((b & 255u) + n##u);			\
		case 4: return (a >> (n % 13)) + b;			\
		default: return a * b + n##u;				\
		}							\
	}
#define PTR(n) f##n,

#define X10(m, p) m(p##0) m(p##1) m(p##2) m(p##3) m(p##4) \
	m(p##5) m(p##6) m(p##7) m(p##8) m(p##9)
#define X100(m, p) X10(m, p##0) X10(m, p##1) X10(m, p##2) X10(m, p##3) X10(m, p##4) \
	X10(m, p##5) X10(m, p##6) X10(m, p##7) X10(m, p##8) X10(m, p##9)
#define X1000(m, p) X100(m, p##0) X100(m, p##1) X100(m, p##2) X100(m, p##3) \
	X100(m, p##4) X100(m, p##5) X100(m, p##6) X100(m, p##7) X100(m, p##8) X100(m, p##9)
#define ALL(m) X1000(m, 1) X1000(m, 2) X1000(m, 3) X1000(m, 4) \
	X1000(m, 5) X1000(m, 6) X1000(m, 7) X1000(m, 8)

ALL(FN)

static unsigned (*const table[])(unsigned) = { ALL(PTR) };

int main(int argc, char **argv)
{
	(void)argv;
	/* Call one function, chosen at run time, so the table cannot be dropped. */
	volatile unsigned sink = table[(unsigned)argc % (sizeof(table) / sizeof(table[0]))](argc);
	(void)sink;
	return 0;
}
