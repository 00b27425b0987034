#pragma once
// A property check for the fuzz targets: prints what was violated and aborts (libFuzzer then saves the
// input as crash-<sha1>).
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                                        \
  do {                                                                                                \
    if (!(cond)) {                                                                                    \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, what, #cond); \
      std::abort();                                                                                   \
    }                                                                                                 \
  } while (0)
