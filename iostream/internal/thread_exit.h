// CallAtThreadExit: runs a function when the calling thread exits. For the per-thread caches
// kept in plain (constinit) thread-local data, which a hot path reaches without the
// initialization check that a thread_local with a destructor costs on every use: each cache
// registers its release the first time it keeps something.

#ifndef GUST_IOSTREAM_INTERNAL_THREAD_EXIT_H_
#define GUST_IOSTREAM_INTERNAL_THREAD_EXIT_H_

namespace gust {
namespace internal {

// Calls `Release` at the exit of the calling thread. Once per thread and function: later calls
// on the same thread register nothing more.
template <void (*Release)()>
void CallAtThreadExit() {
  struct Caller {
    Caller() = default;
    ~Caller() { Release(); }
  };
  thread_local Caller caller;
  (void)caller;
}

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_INTERNAL_THREAD_EXIT_H_
