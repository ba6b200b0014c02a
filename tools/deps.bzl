"""gust_deps(): every repository gust needs, for the main workspace and for consumers.

Each repository is defined only if the WORKSPACE has not defined it already, so a monorepo that
vendors upstream Abseil, BoringSSL, RE2, liburing, GoogleTest or Google Benchmark under their canonical
names keeps its own copy. Otherwise the Debian packages are used (tools/install_deps.sh installs
them).
"""

load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load("//third_party:debian_absl.bzl", "debian_absl_repository")
load(
    "//third_party:offline_stubs.bzl",
    "offline_remote_coverage_tools",
    "offline_rules_cc",
    "offline_rules_java",
    "offline_rules_shell",
)

def gust_deps():
    """Defines the repositories gust depends on that the caller has not defined."""
    maybe(offline_rules_cc, name = "rules_cc")
    maybe(offline_rules_java, name = "rules_java")
    maybe(offline_rules_shell, name = "rules_shell")
    maybe(offline_remote_coverage_tools, name = "remote_coverage_tools")
    maybe(
        native.local_repository,
        name = "bazel_skylib",
        path = "/usr/share/bazel/tools/skylib",
    )
    maybe(debian_absl_repository, name = "com_google_absl")
    maybe(
        native.new_local_repository,
        name = "boringssl",
        path = "/usr/include/android",
        build_file = str(Label("//third_party:boringssl.BUILD")),
    )
    maybe(
        native.new_local_repository,
        name = "com_googlesource_code_re2",
        path = "/usr/include/re2",
        build_file = str(Label("//third_party:re2.BUILD")),
    )
    maybe(
        native.new_local_repository,
        name = "liburing",
        path = "/usr/include/liburing",
        build_file = str(Label("//third_party:liburing.BUILD")),
    )
    maybe(
        native.new_local_repository,
        name = "com_google_googletest",
        path = "/usr/include/gtest",
        build_file = str(Label("//third_party:googletest.BUILD")),
    )
    maybe(
        native.new_local_repository,
        name = "com_github_google_benchmark",
        path = "/usr/include/benchmark",
        build_file = str(Label("//third_party:benchmark.BUILD")),
    )
