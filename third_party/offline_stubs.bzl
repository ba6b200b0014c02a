"""Local stand-ins for the repositories Bazel 4.2.3 fetches from the network on first use.

`@bazel_tools` loads `@rules_cc`, `@rules_java` and `@remote_coverage_tools` even when nothing of
Java or coverage is built, and gust's BUILD files load `@rules_cc` and `@rules_shell` (so that they
work on Bazel 8 and later, where the native rules are gone). Debian ships no copy that 4.2.3 accepts, so these repositories forward
each rule to its native twin (and provide empty coverage tools). A monorepo that defines the real
repositories keeps them: gust_deps() only adds what is missing.
"""

def _forwarders(rules):
    return "".join([
        "def {0}(**kwargs):\n    native.{0}(**kwargs)\n\n".format(rule)
        for rule in rules
    ])

_RULES_CC_DEFS = _forwarders([
    "cc_binary",
    "cc_import",
    "cc_library",
    "cc_proto_library",
    "cc_test",
    "cc_toolchain",
    "cc_toolchain_suite",
    "fdo_prefetch_hints",
    "fdo_profile",
    "objc_import",
    "objc_library",
])

_RULES_JAVA_DEFS = _forwarders([
    "java_binary",
    "java_import",
    "java_library",
    "java_lite_proto_library",
    "java_package_configuration",
    "java_plugin",
    "java_proto_library",
    "java_runtime",
    "java_test",
    "java_toolchain",
])

_RULES_SHELL_FILES = {
    "shell/sh_%s.bzl" % kind: "def sh_{0}(**kwargs):\n    native.sh_{0}(**kwargs)\n".format(kind)
    for kind in ["binary", "library", "test"]
}

def _stub_repository_impl(ctx):
    ctx.file("WORKSPACE", "workspace(name = %r)\n" % ctx.name)
    for path, content in ctx.attr.files.items():
        ctx.file(path, content)

_stub_repository = repository_rule(
    implementation = _stub_repository_impl,
    attrs = {"files": attr.string_dict()},
)

def offline_rules_cc(name = "rules_cc"):
    _stub_repository(name = name, files = {
        "BUILD": "",
        "cc/BUILD": 'alias(name = "toolchain_type", actual = "@bazel_tools//tools/cpp:toolchain_type", visibility = ["//visibility:public"])\n',
        "cc/defs.bzl": _RULES_CC_DEFS,
    })

def offline_rules_java(name = "rules_java"):
    _stub_repository(name = name, files = {
        "BUILD": "",
        "java/BUILD": "",
        "java/defs.bzl": _RULES_JAVA_DEFS,
    })

def offline_rules_shell(name = "rules_shell"):
    files = {"BUILD": "", "shell/BUILD": ""}
    files.update(_RULES_SHELL_FILES)
    _stub_repository(name = name, files = files)

def offline_remote_coverage_tools(name = "remote_coverage_tools"):
    _stub_repository(name = name, files = {
        "BUILD": "\n".join([
            'package(default_visibility = ["//visibility:public"])',
            'filegroup(name = "coverage_report_generator")',
            'filegroup(name = "lcov_merger")',
            "",
        ]),
    })
