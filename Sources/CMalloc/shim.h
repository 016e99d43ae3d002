// glibc malloc extensions (malloc_trim), not in the Glibc module.
#include <malloc.h>
