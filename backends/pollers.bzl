"""The poller backends gust has: the values of --//backends:poller, in order of preference."""

POLLERS = ["epoll", "poll", "select", "io_uring"]

# Backends that need a particular platform.
POLLER_COMPATIBILITY = {
    "epoll": ["@platforms//os:linux"],
    "io_uring": ["@platforms//os:linux"],
}
