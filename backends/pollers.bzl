"""The poller backends gust has: the values of --//backends:poller, in order of preference."""

POLLERS = ["epoll", "poll", "select"]

# Backends that need a particular platform.
POLLER_COMPATIBILITY = {
    "epoll": ["@platforms//os:linux"],
}
