"""Compiler options for gust's own targets (the Abseil convention: copts are data)."""

# Warnings gust's code is kept free of. The workspace's .bazelrc makes them errors for gust's
# own files; a consumer's build sees them as warnings only, so a newer compiler cannot break it.
GUST_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]

GUST_TEST_COPTS = GUST_COPTS
