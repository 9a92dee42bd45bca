#!/usr/bin/env bash
# Fetches what the tests need to check Peppol BIS Billing 3.0 documents, once, into
# var/peppol/ (the jars stay cached in ~/.m2):
#   - the UBL 2.1 XSDs (from com.helger.ubl:ph-ubl21, which bundles them, and the
#     schemas they import without a location: CCTS, XML-DSig, XAdES, from com.helger.xsd);
#   - the Schematron rules CEN-EN16931-UBL and PEPPOL-EN16931-UBL compiled to XSLT
#     (from com.helger.phive.rules:phive-rules-peppol).
# `make test` (deploy/local/test.sh) runs it before the tests. Idempotent; needs mvn + unzip
# (installed from Debian's packages when missing).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${PEPPOL_RULES_DIR:-$REPO/var/peppol}"
UBL_VERSION="9.0.2"
PHIVE_VERSION="4.3.7"
XSDS_VERSION="3.0.0"
RULES_RELEASE="2025.11"
STAMP="$DEST/.ok-ubl$UBL_VERSION-xsds$XSDS_VERSION-phive$PHIVE_VERSION"

[ -f "$STAMP" ] && exit 0

need() {
  command -v "$1" >/dev/null && return 0
  command -v apt-get >/dev/null || { echo "peppol_rules: $1 missing; install $2" >&2; exit 1; }
  apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
}
need mvn maven
need unzip unzip

M2="${MAVEN_REPO:-$HOME/.m2/repository}"
fetch() { # group artifact version -> path of the jar
  local g="$1" a="$2" v="$3"
  local jar="$M2/${g//.//}/$a/$v/$a-$v.jar"
  if [ ! -f "$jar" ]; then
    mvn -q -B -Dstyle.color=never dependency:get -Dartifact="$g:$a:$v" -Dtransitive=false >&2
  fi
  echo "$jar"
}

ubl_jar="$(fetch com.helger.ubl ph-ubl21 "$UBL_VERSION")"
rules_jar="$(fetch com.helger.phive.rules phive-rules-peppol "$PHIVE_VERSION")"
imported_jars=()
for a in ph-xsds-ccts-cct-schemamodule ph-xsds-xmldsig ph-xsds-xades132 ph-xsds-xades141; do
  imported_jars+=("$(fetch com.helger.xsd "$a" "$XSDS_VERSION")")
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
unzip -q -o "$ubl_jar" 'external/schemas/ubl21/*' -d "$tmp"
for jar in "${imported_jars[@]}"; do
  unzip -q -o "$jar" 'schemas/*.xsd' -d "$tmp/imported"
done
unzip -q -o "$rules_jar" \
  "external/schematron/openpeppol/$RULES_RELEASE/xslt/CEN-EN16931-UBL.xslt" \
  "external/schematron/openpeppol/$RULES_RELEASE/xslt/PEPPOL-EN16931-UBL.xslt" -d "$tmp"

rm -rf "$DEST"
mkdir -p "$DEST/xslt"
cp -r "$tmp/external/schemas/ubl21" "$DEST/ubl21"
mkdir -p "$DEST/ubl21/imported"
cp "$tmp/imported/schemas/"*.xsd "$DEST/ubl21/imported/"
cp "$tmp/external/schematron/openpeppol/$RULES_RELEASE/xslt/"*.xslt "$DEST/xslt/"
touch "$STAMP"
echo "peppol_rules: UBL 2.1 XSDs and Peppol $RULES_RELEASE rules in $DEST" >&2
