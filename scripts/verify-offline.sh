#!/usr/bin/env bash
# verify-offline.sh BUNDLE PUBKEY
#
# Verifies a stella-bundle bundle (SPEC section 4) with stock tools only, no stella-bundle:
# GNU tar with zstd, python3 (standard library: json, base64, hashlib), sha256sum and OpenSSL 3
# (`openssl pkeyutl -verify -rawin` does pure Ed25519 over the DSSE PAE).
# Exit 0 when the bundle is signed by PUBKEY and every entry matches its signed digest; else 3.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUNDLE PUBKEY" >&2
  exit 2
fi
bundle=$1
pub=$2
fail() { echo "verify-offline: FAILED: $*" >&2; exit 3; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Listing: envelope first, then only regular files under data/, safe names, no duplicates.
tar --zstd -tvf "$bundle" > "$work/long" 2>/dev/null || fail "not a readable tar.zst archive"
tar --zstd -tf "$bundle" > "$work/names" 2>/dev/null || fail "not a readable tar.zst archive"
[ "$(head -n 1 "$work/names")" = "stella-bundle.dsse.json" ] || fail "first entry is not stella-bundle.dsse.json"
if cut -c1 "$work/long" | grep -qv -- '-'; then fail "non-regular entry in the archive"; fi
tail -n +2 "$work/names" > "$work/payload-names"
while IFS= read -r name; do
  case "$name" in
    data/*) ;;
    *) fail "entry outside data/: $name" ;;
  esac
  case "/$name/" in
    */../*|*/./*|*//*) fail "unsafe entry path: $name" ;;
  esac
done < "$work/payload-names"
[ -z "$(sort "$work/names" | uniq -d)" ] || fail "duplicate entry"

# 2. Envelope: payloadType, keyid of PUBKEY, PAE and signature bytes.
tar --zstd -xOf "$bundle" stella-bundle.dsse.json > "$work/envelope.json" || fail "cannot read the envelope"
openssl pkey -pubin -in "$pub" -outform DER -out "$work/pub.der" 2>/dev/null || fail "cannot read public key $pub"
python3 - "$work" <<'PY' || fail "envelope or statement invalid"
import base64, hashlib, json, os, sys
work = sys.argv[1]
env = json.load(open(os.path.join(work, "envelope.json"), "rb"))
if env.get("payloadType") != "application/vnd.in-toto+json":
    sys.exit("wrong payloadType")
payload = base64.b64decode(env["payload"], validate=True)
der = open(os.path.join(work, "pub.der"), "rb").read()
raw = der[-32:]
keyid = hashlib.sha256(('{"keytype":"ed25519","keyval":{"public":"%s"},"scheme":"ed25519"}' % raw.hex()).encode()).hexdigest()
ptype = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
open(os.path.join(work, "pae"), "wb").write(pae)
sigs = [s for s in env.get("signatures", []) if s.get("keyid") in (keyid, "")]
if not sigs:
    sys.exit("no signature by key %s" % keyid)
for i, s in enumerate(sigs):
    open(os.path.join(work, "sig.%d" % i), "wb").write(base64.b64decode(s["sig"], validate=True))
st = json.loads(payload)
if st.get("_type") != "https://in-toto.io/Statement/v1" or st.get("predicateType") != "urn:stella-bundle:bundle:v1":
    sys.exit("not a stella-bundle statement")
with open(os.path.join(work, "sums"), "w") as f:
    for sub in st["subject"]:
        f.write("%s  %s\n" % (sub["digest"]["sha256"], sub["name"]))
with open(os.path.join(work, "subject-names"), "w") as f:
    for sub in st["subject"]:
        f.write(sub["name"] + "\n")
PY
ok=0
for sig in "$work"/sig.*; do
  if openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$work/pae" -sigfile "$sig" >/dev/null 2>&1; then
    ok=1
  fi
done
[ "$ok" = 1 ] || fail "signature does not verify with $pub"

# 3. Entries: exactly the subjects, each with its signed sha256.
sort "$work/payload-names" > "$work/a"
sort "$work/subject-names" > "$work/b"
cmp -s "$work/a" "$work/b" || fail "archive entries and signed subjects differ"
mkdir "$work/x"
tar --zstd -xf "$bundle" -C "$work/x" --no-same-owner --no-same-permissions --exclude stella-bundle.dsse.json \
  || fail "cannot extract the payload"
(cd "$work/x" && sha256sum --quiet -c "$work/sums") || fail "digest mismatch"
echo "verify-offline: OK $bundle ($(wc -l < "$work/subject-names") entries, signed by $pub)"
