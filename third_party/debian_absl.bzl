"""Exposes Debian's libabsl-dev under the labels of upstream Abseil's Bazel build.

Every pkg-config component `absl_<x>` becomes `//pkgconfig:absl_<x>`, a cc_library carrying that
component's own archives and depending on the components its `.pc` file requires, so static link
order follows Abseil's real dependency graph. The public labels (`//absl/status:statusor`, ...)
are aliases onto those, laid out in the sub-packages upstream uses.
"""

# Upstream label -> pkg-config component, for the labels whose component name is not simply
# "absl_" + target name.
_COMPONENT_OVERRIDES = {
    "absl/algorithm:container": "absl_algorithm_container",
    "absl/flags:flag": "absl_flags",
    "absl/flags:parse": "absl_flags_parse",
    "absl/flags:usage": "absl_flags_usage",
    "absl/random:random": "absl_random_random",
}

# The upstream labels this repository provides (package: targets).
_PUBLIC_LABELS = {
    "absl/algorithm": ["algorithm", "container"],
    "absl/base": ["base", "config", "core_headers", "log_severity", "dynamic_annotations"],
    "absl/cleanup": ["cleanup"],
    "absl/container": [
        "btree",
        "fixed_array",
        "flat_hash_map",
        "flat_hash_set",
        "inlined_vector",
        "node_hash_map",
        "node_hash_set",
    ],
    "absl/debugging": ["failure_signal_handler", "stacktrace", "symbolize"],
    "absl/flags": ["flag", "parse", "usage"],
    "absl/functional": ["any_invocable", "bind_front", "function_ref"],
    "absl/hash": ["hash"],
    "absl/memory": ["memory"],
    "absl/meta": ["type_traits"],
    "absl/numeric": ["bits", "int128"],
    "absl/random": ["random"],
    "absl/status": ["status", "statusor"],
    "absl/strings": ["cord", "str_format", "strings"],
    "absl/synchronization": ["synchronization"],
    "absl/time": ["time"],
    "absl/types": ["optional", "span", "variant"],
    "absl/utility": ["utility"],
}

def _pc_field(text, field):
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line[len(field) + 1:].strip()
    return ""

def _debian_absl_impl(ctx):
    listing = ctx.execute(["pkg-config", "--list-all"])
    if listing.return_code != 0:
        fail("pkg-config --list-all failed (is pkg-config installed?): " + listing.stderr)
    components = sorted([
        line.split(" ")[0]
        for line in listing.stdout.splitlines()
        if line.startswith("absl_")
    ])
    if not components:
        fail("no absl_*.pc found by pkg-config: install Debian's libabsl-dev")

    rules = [
        'load("@rules_cc//cc:defs.bzl", "cc_library")',
        "",
        'package(default_visibility = ["//visibility:public"])',
        "",
    ]
    for component in components:
        path = ctx.execute(["pkg-config", "--path", component]).stdout.strip()
        text = ctx.read(path)

        # The static archive (`-l:libabsl_x.a`), as a monorepo that builds Abseil from source
        # links it: the shared objects cost every process about 1 MiB of resident memory, half
        # of it private (relocated data), for the few functions gust calls.
        linkopts = [
            "-l:lib%s.a" % token[2:] if token.startswith("-labsl_") else token
            for token in _pc_field(text, "Libs").split(" ")
            if token and not token.startswith("-L")
        ]
        deps = [
            ":" + entry.strip().split(" ")[0]
            for entry in _pc_field(text, "Requires").split(",")
            if entry.strip()
        ]
        rules.append("cc_library(name = %r, linkopts = %r, deps = %r)" % (component, linkopts, deps))
    ctx.file("pkgconfig/BUILD.bazel", "\n".join(rules) + "\n")

    available = {c: True for c in components}
    for package, targets in _PUBLIC_LABELS.items():
        aliases = ['package(default_visibility = ["//visibility:public"])', ""]
        for target in targets:
            component = _COMPONENT_OVERRIDES.get(package + ":" + target, "absl_" + target)
            if component not in available:
                continue
            aliases.append("alias(name = %r, actual = %r)" % (target, "//pkgconfig:" + component))
        ctx.file(package + "/BUILD.bazel", "\n".join(aliases) + "\n")
    ctx.file("WORKSPACE", 'workspace(name = "com_google_absl")\n')
    ctx.file("BUILD.bazel", "")

debian_absl_repository = repository_rule(
    implementation = _debian_absl_impl,
    doc = "Debian's libabsl-dev as @com_google_absl, one cc_library per pkg-config component.",
    local = True,
)
