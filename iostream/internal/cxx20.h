// Stops a build without C++20 at its first gust include, with one line that names the fix,
// instead of pages of template errors further down.

#ifndef GUST_IOSTREAM_INTERNAL_CXX20_H_
#define GUST_IOSTREAM_INTERNAL_CXX20_H_

#if __cplusplus < 202002L
#error "gust needs C++20: build with --cxxopt=-std=c++20 --host_cxxopt=-std=c++20 (in .bazelrc)"
// Ends the compilation here: #error alone lets the compiler go on into the headers below.
#include "gust needs C++20 (see the #error above)"
#endif

#endif  // GUST_IOSTREAM_INTERNAL_CXX20_H_
