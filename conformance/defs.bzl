"""gust_conformance_test: one test target per poller backend for the same test sources.

    gust_conformance_test(name = "io_loop_test", srcs = ["io_loop_test.cc"])

declares `io_loop_test_epoll`, `io_loop_test_poll`, `io_loop_test_select` and
`io_loop_test_io_uring` (libevent's per-backend naming) and a `test_suite` named `io_loop_test` over them, so a plain
`bazel test //...` runs every conformance test on every backend. The sources are compiled once;
only the backend library and the final link differ. Each test also checks, through
GUST_EXPECTED_BACKEND, that the loop really runs on the backend its name says.
"""

load("@rules_cc//cc:defs.bzl", "cc_library", "cc_test")
load("//backends:pollers.bzl", "POLLERS", "POLLER_COMPATIBILITY")
load("//tools:copts.bzl", "GUST_TEST_COPTS")

def gust_conformance_test(name, srcs, deps = [], backends = POLLERS, size = "small", **kwargs):
    """One cc_test per backend over the same sources, and a test_suite `name` over them.

    Args:
      name: the suite's name; each backend's test is `name` + "_" + backend.
      srcs: the test sources, compiled once into `name` + "_lib".
      deps: what the sources need beyond gust, gtest and the conformance helpers.
      backends: the backends to test on (all by default).
      size: the tests' size.
      **kwargs: passed to every cc_test.
    """
    cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        copts = GUST_TEST_COPTS,
        deps = deps + [
            "//conformance:testing",
            "//iostream:core",
            "@com_google_googletest//:gtest",
        ],
        alwayslink = True,
    )
    tests = []
    for backend in backends:
        test_name = name + "_" + backend
        cc_test(
            name = test_name,
            size = size,
            env = {"GUST_EXPECTED_BACKEND": backend},
            target_compatible_with = POLLER_COMPATIBILITY.get(backend, []),
            deps = [
                ":" + name + "_lib",
                "//backends:" + backend,
                "//conformance:test_main",
            ],
            **kwargs
        )
        tests.append(":" + test_name)
    native.test_suite(name = name, tests = tests)
