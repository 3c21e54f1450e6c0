#!/usr/bin/env python3
"""Generated data shared by the benchmark sections of scripts/bench.sh.

    bench_data.py import DIR SBOMS COMPONENTS ADVISORIES

writes DIR/sbom/app-NNN.json (CycloneDX 1.4, COMPONENTS npm components each),
DIR/feed/bNN/BENCH-NNNNNN.json (OSV, 10,000 records per folder: one feed bundle each), and the
same rows as CSV for the raw-COPY floor: DIR/documents.csv (the sbom_document columns the
import fills: SBOM number, content_hash, artifact_purl, doc, raw), DIR/components.csv,
DIR/advisories.csv, DIR/affected.csv. Seeded: the same arguments always give the same bytes.
"""
import csv
import hashlib
import json
import os
import random
import sys
import uuid


def import_dataset(w, nsbom, ncomp, nadv):
    rnd = random.Random(42)
    names = ["pkg-%05d" % i for i in range(20000)]
    os.makedirs(os.path.join(w, "sbom"), exist_ok=True)
    os.makedirs(os.path.join(w, "feed"), exist_ok=True)
    with open(os.path.join(w, "components.csv"), "w", newline="") as cf, \
            open(os.path.join(w, "documents.csv"), "w", newline="") as df:
        cw, dw = csv.writer(cf), csv.writer(df)
        for s in range(nsbom):
            comps = []
            for c in range(ncomp):
                n = rnd.choice(names)
                v = "%d.%d.%d" % (rnd.randrange(5), rnd.randrange(20), rnd.randrange(30))
                purl = "pkg:npm/%s@%s" % (n, v)
                comps.append({"type": "library", "bom-ref": purl, "name": n, "version": v, "purl": purl})
                cw.writerow([s, c, purl, n, v, purl, "pkg:npm/" + n, "npm", n])
            doc = {"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1,
                   "serialNumber": "urn:uuid:%s" % uuid.UUID(int=rnd.getrandbits(128)),
                   "metadata": {"component": {"type": "application", "name": "app-%d" % s, "version": "1.0.0",
                                              "purl": "pkg:npm/app-%d@1.0.0" % s}},
                   "components": comps}
            raw = json.dumps(doc)
            with open(os.path.join(w, "sbom", "app-%03d.json" % s), "w") as f:
                f.write(raw)
            # raw in bytea's escape format (a backslash doubled; the JSON has none today).
            dw.writerow([s, "\\x" + hashlib.sha256(raw.encode()).hexdigest(),
                         doc["metadata"]["component"]["purl"], raw, raw.replace("\\", "\\\\")])
    per = 10000
    with open(os.path.join(w, "advisories.csv"), "w", newline="") as af, \
            open(os.path.join(w, "affected.csv"), "w", newline="") as ff:
        aw, fw = csv.writer(af), csv.writer(ff)
        for i in range(nadv):
            b = i // per
            os.makedirs(os.path.join(w, "feed", "b%02d" % b), exist_ok=True)
            n = rnd.choice(names)
            rec = {"schema_version": "1.6.0", "id": "BENCH-%06d" % i, "modified": "2026-10-01T00:00:00Z",
                   "aliases": ["CVE-2026-%d" % i], "summary": "heap overflow in %s parser %d" % (n, i),
                   "details": "A crafted input triggers a buffer overflow in %s. " % n * 8,
                   "affected": [{"package": {"ecosystem": "npm", "name": n},
                                 "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"},
                                                                          {"fixed": "%d.%d.0" % (rnd.randrange(5), rnd.randrange(20))}]}]}]}
            raw = json.dumps(rec, indent=2)
            with open(os.path.join(w, "feed", "b%02d" % b, "BENCH-%06d.json" % i), "w") as f:
                f.write(raw)
            aw.writerow([i, rec["id"], rec["modified"], "{%s}" % rec["aliases"][0], rec["summary"],
                         rec["details"], json.dumps(rec), raw,
                         "\\x" + hashlib.sha256(raw.encode()).hexdigest()])
            fw.writerow([i, 0, "npm", "npm", n, "", json.dumps(rec["affected"][0]["ranges"]), "{}"])


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "import":
        sys.exit(__doc__)
    import_dataset(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
