#!/usr/bin/env bash
# Checks that every BUILD, .bzl and WORKSPACE file is formatted and lint-clean under buildifier
# (the npm package @bazel/buildifier, which ships the binary; installed into build/tools on
# first use), and that MODULE.bazel declares every external repository a BUILD file names.
#   tools/lint.sh          # check (the test command runs this)
#   tools/lint.sh --fix    # reformat and apply buildifier's automatic fixes
set -euo pipefail
cd "$(dirname "$0")/.."
version=8.2.1
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "lint: no buildifier binary for $(uname -m)" >&2; exit 1 ;;
esac
tools=build/tools
buildifier=$tools/node_modules/@bazel/buildifier/buildifier-linux-$arch
buildifier=${buildifier/linux-/linux_}
if [[ ! -x $buildifier ]]; then
  command -v npm >/dev/null || tools/install_deps.sh npm
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "@bazel/buildifier@$version" >&2
fi
mapfile -t files < <(git ls-files -- '*BUILD' '*.BUILD' '*.bzl' '*WORKSPACE' 'MODULE.bazel')
if [[ ${1:-} == --fix ]]; then
  "$buildifier" -mode=fix -lint=fix "${files[@]}"
fi
"$buildifier" -mode=check -lint=warn "${files[@]}"
echo "lint: ${#files[@]} files formatted and lint-clean (buildifier $version)"

# Every external repository a BUILD or .bzl file names must be declared in MODULE.bazel (as a
# module name or a repo_name), or Bzlmod users get "no repository visible as @x".
builtin='^(bazel_tools|gust)$'
missing=0
while read -r repo; do
  [[ $repo =~ $builtin ]] && continue
  if ! sed "s/#.*//" MODULE.bazel | grep -Eq "(name|repo_name) = \"$repo\""; then
    echo "lint: @$repo is used in a BUILD file but not declared in MODULE.bazel" >&2
    missing=1
  fi
done < <(git grep -hoE '@[A-Za-z0-9_.-]+//' -- '*BUILD' '*.BUILD' '*.bzl' | sed 's/^@//; s|//$||' |
  sort -u)
[[ $missing -eq 0 ]] || exit 1
echo "lint: MODULE.bazel declares every external repository the BUILD files name"
